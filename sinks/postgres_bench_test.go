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
