package sinks_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/hoard-dev/hoard/sinks"
)

// pgBenchSizes are the rows per batch the PostgreSQL benchmarks flush.
var pgBenchSizes = []int{1_000, 10_000}

// BenchmarkPostgresCopy flushes buffer batches of fresh keys, 10 values of
// 100 bytes per key, through COPY. To run it:
//
//	bash -c 'source scripts/ci-postgres.sh && go test -run "^$" -bench Postgres -benchtime 3x ./sinks/'
func BenchmarkPostgresCopy(b *testing.B) {
	const perKey = 10
	value := make([]byte, 100)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	for _, n := range pgBenchSizes {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			db := newPGTestDB(b)
			p := db.sink(db.config())
			run := rand.Uint64()
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				batch := bufferBatch(fmt.Sprintf("bench.%x.%d", run, i), "events")
				batch.Values = make([]sinks.Values, 0, n/perKey)
				for k := range n / perKey {
					vs := make([][]byte, perKey)
					for j := range vs {
						vs[j] = value
					}
					batch.Values = append(batch.Values, sinks.Values{Key: fmt.Sprintf("user-%d-%d", i, k), Values: vs})
				}
				b.StartTimer()
				if err := p.Flush(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkPostgresUpsert flushes counter batches in which half the keys
// have a row already and half are new.
func BenchmarkPostgresUpsert(b *testing.B) {
	for _, n := range pgBenchSizes {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			db := newPGTestDB(b)
			p := db.sink(db.config())
			run := rand.Uint64()
			ctx := context.Background()
			old := counterBatch(fmt.Sprintf("bench.%x.old", run), "pageviews")
			for k := range n / 2 {
				old.Counts = append(old.Counts, sinks.Count{Key: fmt.Sprintf("/page/%d", k), Count: 1})
			}
			mustFlush(b, p, old)
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				batch := counterBatch(fmt.Sprintf("bench.%x.%d", run, i), "pageviews")
				batch.Counts = make([]sinks.Count, 0, n)
				for k := range n / 2 {
					batch.Counts = append(batch.Counts,
						sinks.Count{Key: fmt.Sprintf("/page/%d", k), Count: int64(k%7 + 1)},
						sinks.Count{Key: fmt.Sprintf("/new/%d/%d", i, k), Count: 1})
				}
				b.StartTimer()
				if err := p.Flush(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkPostgresUpsertRanges is BenchmarkPostgresUpsert with batches
// that carry ranges, one for each of 1021 partitions, recorded in the
// positions table instead of the batch ID.
func BenchmarkPostgresUpsertRanges(b *testing.B) {
	const partitions = 1021
	for _, n := range pgBenchSizes {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			db := newPGTestDB(b)
			p := db.sink(db.config())
			origin := fmt.Sprintf("bench.%x", rand.Uint64())
			ctx := context.Background()
			// batch i holds ops i*n+1 to i*n+n of every partition.
			batch := func(i int, keys func(k int) []string) sinks.Batch {
				batch := counterBatch(fmt.Sprintf("%s.%d", origin, i), "pageviews")
				batch.Origin = origin
				for part := range partitions {
					seq := uint64(i) * uint64(n)
					batch.Ranges = append(batch.Ranges, sinks.Range{Partition: part, First: seq + 1, Last: seq + uint64(n)})
				}
				for k := range n / 2 {
					for _, key := range keys(k) {
						batch.Counts = append(batch.Counts, sinks.Count{Key: key, Count: int64(k%7 + 1), Partition: k % partitions})
					}
				}
				return batch
			}
			mustFlush(b, p, batch(0, func(k int) []string { return []string{fmt.Sprintf("/page/%d", k)} }))
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				batch := batch(i+1, func(k int) []string { return []string{fmt.Sprintf("/page/%d", k), fmt.Sprintf("/new/%d/%d", i, k)} })
				b.StartTimer()
				if err := p.Flush(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
