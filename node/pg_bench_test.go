package node_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hoard-dev/hoard/client"
	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/testcluster"
)

// BenchmarkPostgresVersusDirect is the comparison that sells hoard:
// 1,000,000 increments over 10,000 keys sent through a 3-node cluster
// until all are in PostgreSQL, against the same increments sent straight to
// PostgreSQL as single-row upserts by 8 concurrent writers, in the same
// run. It needs HOARD_TEST_POSTGRES_DSN (source scripts/ci-postgres.sh).
// Run: go test -run '^$' -bench PostgresVersusDirect -benchtime 1x ./node/
func BenchmarkPostgresVersusDirect(b *testing.B) {
	dsn := testcluster.PostgresDSN(b)
	const increments, keys = 1000000, 10000
	ctx := context.Background()
	suffix := fmt.Sprintf("%d", rand.Uint32())
	sink, err := sinks.NewPostgres(ctx, sinks.PostgresConfig{
		DSN:           dsn,
		CountersTable: "bench_counters_" + suffix,
		ValuesTable:   "bench_values_" + suffix,
		BatchesTable:  "bench_batches_" + suffix,
		CreateTables:  true,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	direct := "bench_direct_" + suffix
	if _, err := pool.Exec(ctx, "create table "+direct+" (store text, key text, count bigint, primary key (store, key))"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		for _, t := range []string{direct, "bench_counters_" + suffix, "bench_values_" + suffix, "bench_batches_" + suffix} {
			_, _ = pool.Exec(context.Background(), "drop table if exists "+t)
		}
	})
	key := func(i int) string { return fmt.Sprintf("/page/%d", i%keys) }

	for b.Loop() {
		// hoard: 3 nodes, clients on every node, then one flush.
		c := testcluster.New(b, 3, &testcluster.Options{
			LogLevel: hclog.Error,
			Configure: func(i int, cfg *node.Config) {
				cfg.Stores = []node.StoreConfig{{Name: "pv", Kind: node.KindCounter, Sink: sink, Interval: 5 * time.Second}}
			},
		})
		var clients []*client.Client
		for _, addr := range c.RPCAddrs() {
			cl, err := client.Dial(ctx, addr)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			clients = append(clients, cl)
		}
		start := time.Now()
		runWorkers(b, 768, increments, func(i int) error {
			return clients[i%3].Incr(ctx, "pv", key(i), 1)
		})
		if _, err := clients[0].Flush(ctx, ""); err != nil {
			b.Fatal(err)
		}
		hoardTime := time.Since(start)
		var sum int64
		if err := pool.QueryRow(ctx, "select coalesce(sum(count),0) from bench_counters_"+suffix).Scan(&sum); err != nil || sum != increments {
			b.Fatalf("hoard: sum in PostgreSQL = %d, %v; want %d", sum, err, increments)
		}
		c.Close()

		// Direct: 8 writers, one upsert per increment.
		start = time.Now()
		runWorkers(b, 8, increments, func(i int) error {
			_, err := pool.Exec(ctx, "insert into "+direct+" (store, key, count) values ('pv', $1, 1) on conflict (store, key) do update set count = "+direct+".count + 1", key(i))
			return err
		})
		directTime := time.Since(start)
		if err := pool.QueryRow(ctx, "select coalesce(sum(count),0) from "+direct).Scan(&sum); err != nil || sum != increments {
			b.Fatalf("direct: sum = %d, %v; want %d", sum, err, increments)
		}
		b.ReportMetric(float64(increments)/hoardTime.Seconds(), "hoard-incr/s")
		b.ReportMetric(float64(increments)/directTime.Seconds(), "direct-incr/s")
		b.ReportMetric(directTime.Seconds()/hoardTime.Seconds(), "speedup")
	}
}

// runWorkers runs total calls of f over workers goroutines.
func runWorkers(b *testing.B, workers, total int, f func(i int) error) {
	b.Helper()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < total; i += workers {
				if err := f(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}
