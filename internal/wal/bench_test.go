package wal

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// BenchmarkAppendWait appends ~50-byte records from 256 goroutines, each
// waiting for its record, with fsync per group (SyncEvery 0) and with a
// background fsync every 100ms. Besides ns/op it reports records per
// write(2) and per fsync: how much group commit shares.
//
//	go test -run '^$' -bench AppendWait ./internal/wal/
func BenchmarkAppendWait(b *testing.B) {
	for _, bc := range []struct {
		name      string
		syncEvery time.Duration
	}{
		{name: "sync=always", syncEvery: 0},
		{name: "sync=100ms", syncEvery: 100 * time.Millisecond},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l, err := Open(Options{Dir: b.TempDir(), SyncEvery: bc.syncEvery})
			if err != nil {
				b.Fatal(err)
			}
			rec := make([]byte, 50)
			b.SetParallelism(max(1, 256/runtime.GOMAXPROCS(0))) // 256 goroutines
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					t, err := l.Append(rec)
					if err == nil {
						err = l.Wait(context.Background(), t)
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			elapsed := time.Since(start)
			b.StopTimer()
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(b.N)/float64(max(1, l.writes.Load())), "records/write")
			b.ReportMetric(float64(b.N)/float64(max(1, l.syncs.Load())), "records/fsync")
		})
	}
}

// BenchmarkWriteBaseline is what BenchmarkAppendWait is measured
// against: one write(2) of one framed ~50-byte record per op, from one
// goroutine, no fsync.
func BenchmarkWriteBaseline(b *testing.B) {
	f, err := createFile(filepath.Join(b.TempDir(), segmentName(1)))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rec := encode(make([]byte, 50))
	for b.Loop() {
		if _, err := f.Write(rec); err != nil {
			b.Fatal(err)
		}
	}
}
