package node_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hoard-dev/hoard/client"
	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/testcluster"
)

// pgTables gives a test its own sink tables and drops them afterwards.
func pgTables(t *testing.T, dsn string) (sinks.PostgresConfig, *pgxpool.Pool) {
	t.Helper()
	suffix := fmt.Sprintf("%d", rand.Uint32())
	cfg := sinks.PostgresConfig{
		DSN:            dsn,
		CountersTable:  "t_counters_" + suffix,
		ValuesTable:    "t_values_" + suffix,
		BatchesTable:   "t_batches_" + suffix,
		PositionsTable: "t_positions_" + suffix,
		CreateTables:   true,
	}
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, tbl := range []string{cfg.CountersTable, cfg.ValuesTable, cfg.BatchesTable, cfg.PositionsTable} {
			_, _ = pool.Exec(context.Background(), "drop table if exists "+tbl)
		}
		pool.Close()
	})
	return cfg, pool
}

func newPGSink(t *testing.T, cfg sinks.PostgresConfig) *sinks.Postgres {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pg, err := sinks.NewPostgres(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	return pg
}

// TestPostgresThroughCluster: counters and buffers from a 3-node cluster
// land in PostgreSQL with exact sums and every value exactly once.
func TestPostgresThroughCluster(t *testing.T) {
	cfg, pool := pgTables(t, testcluster.PostgresDSN(t))
	pg := newPGSink(t, cfg)
	c := testcluster.New(t, 3, &testcluster.Options{Configure: func(i int, nc *node.Config) {
		nc.Stores = []node.StoreConfig{
			{Name: "pv", Kind: node.KindCounter, Sink: pg, Interval: 200 * time.Millisecond},
			{Name: "ev", Kind: node.KindBuffer, Sink: pg, Interval: 200 * time.Millisecond, MaxSize: 20},
		}
	}})
	ctx := ctxT(t)
	var clients []*client.Client
	for _, addr := range c.RPCAddrs() {
		clients = append(clients, dial(t, addr))
	}
	const incrs, inserts = 20000, 5000
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < incrs; i += 16 {
				if err := clients[i%3].Incr(ctx, "pv", fmt.Sprintf("k%d", i%500), 1); err != nil {
					t.Errorf("incr: %v", err)
					return
				}
			}
			for i := w; i < inserts; i += 16 {
				if err := clients[i%3].Insert(ctx, "ev", fmt.Sprintf("u%d", i%100), []byte(fmt.Sprintf("v%d", i))); err != nil {
					t.Errorf("insert: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if _, err := clients[0].Flush(ctx, ""); err != nil {
		t.Fatal(err)
	}
	var sum, keys int64
	if err := pool.QueryRow(ctx, "select coalesce(sum(count),0), count(*) from "+cfg.CountersTable+" where store = 'pv'").Scan(&sum, &keys); err != nil {
		t.Fatal(err)
	}
	if sum != incrs || keys != 500 {
		t.Fatalf("counters: sum %d over %d keys, want %d over 500", sum, keys, incrs)
	}
	var values, distinct int64
	if err := pool.QueryRow(ctx, "select count(*), count(distinct value) from "+cfg.ValuesTable+" where store = 'ev'").Scan(&values, &distinct); err != nil {
		t.Fatal(err)
	}
	if values != inserts || distinct != inserts {
		t.Fatalf("values: %d rows, %d distinct; want %d once each", values, distinct, inserts)
	}
}

// commitThenFail applies a batch and then reports a failure, as a sink
// whose commit succeeded but whose answer was lost would.
type commitThenFail struct{ *sinks.Postgres }

func (s commitThenFail) Flush(ctx context.Context, b sinks.Batch) error {
	if err := s.Postgres.Flush(ctx, b); err != nil {
		return err
	}
	return errors.New("connection lost after commit")
}

// switchingSink is a PostgreSQL sink whose Flush can be swapped for
// another (commitThenFail) while its positions stay readable.
type switchingSink struct {
	pg *sinks.Postgres
	// mu guards s.
	mu sync.Mutex
	s  sinks.Sink
}

func (w *switchingSink) Flush(ctx context.Context, b sinks.Batch) error {
	w.mu.Lock()
	s := w.s
	w.mu.Unlock()
	return s.Flush(ctx, b)
}

func (w *switchingSink) set(s sinks.Sink) {
	w.mu.Lock()
	w.s = s
	w.mu.Unlock()
}

func (w *switchingSink) Applied(ctx context.Context, store, origin string) (map[int][]sinks.Range, error) {
	return w.pg.Applied(ctx, store, origin)
}

// TestPostgresRetriedAndReplayedBatchesApplyOnce: a batch whose commit went
// through but was reported failed is retried, dead-lettered, logged in the
// write-ahead log of a node that then crashes and restarts (its log
// replayed), and replayed from the dead-letter: it is applied exactly once.
func TestPostgresRetriedAndReplayedBatchesApplyOnce(t *testing.T) {
	cfg, pool := pgTables(t, testcluster.PostgresDSN(t))
	pg := newPGSink(t, cfg)
	sink := &switchingSink{pg: pg, s: commitThenFail{pg}}
	c := testcluster.New(t, 1, &testcluster.Options{Configure: func(i int, nc *node.Config) {
		nc.Stores = []node.StoreConfig{{Name: "pv", Kind: node.KindCounter, Sink: sink, Interval: time.Hour, RetryMax: 3, RetryDelay: 10 * time.Millisecond, Ack: node.AckWAL}}
	}})
	n := c.Node(0)
	ctx := ctxT(t)
	for i := range 10 {
		if err := n.Incr(ctx, "pv", fmt.Sprintf("k%d", i), 7); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.Flush(ctx, ""); !errors.Is(err, node.ErrDeadLettered) {
		t.Fatalf("flush: %v", err)
	}
	// A crash, then a restart that replays the log: the sink says it has
	// the ops, so nothing is sent again.
	c.Kill(0)
	c.Restart(0)
	n = c.Node(0)
	sink.set(pg)
	if res, err := n.ReplayDeadLetters(ctx, ""); err != nil || len(res.Replayed) != 1 {
		t.Fatalf("replay: %+v, %v", res, err)
	}
	var sum int64
	if err := pool.QueryRow(ctx, "select coalesce(sum(count),0) from "+cfg.CountersTable).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	if sum != 70 {
		t.Fatalf("sum %d after 3 tries, a crash, a log replay and a dead-letter replay, want 70 (applied once)", sum)
	}
}

// proxy forwards TCP connections to a PostgreSQL server and can cut them,
// to take the database away in the middle of a run.
type proxy struct {
	ln                net.Listener
	network, upstream string

	// mu guards conns and down.
	mu    sync.Mutex
	conns map[net.Conn]bool
	down  bool
	wg    sync.WaitGroup
}

func startProxy(t *testing.T, network, upstream string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, network: network, upstream: upstream, conns: map[net.Conn]bool{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial(p.network, p.upstream)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		p.wg.Go(func() { io.Copy(up, c); up.Close() })
		p.wg.Go(func() { io.Copy(c, up); c.Close() })
	}
}

// cut closes every connection and refuses new ones until restore.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *proxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// pgDSNVia returns dsn, a URL or key=value DSN, with its server replaced
// by the TCP address addr.
func pgDSNVia(t *testing.T, dsn, addr string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return fmt.Sprintf("%s host=%s port=%s", dsn, host, port) // a later keyword wins
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("DSN %q: %v", dsn, err)
	}
	u.Host = addr
	q := u.Query()
	q.Del("host")
	q.Del("port")
	u.RawQuery = q.Encode()
	return u.String()
}

// TestPostgresOutage: PostgreSQL goes away mid-run; batches are retried,
// then dead-lettered; once it is back, replay loses nothing.
func TestPostgresOutage(t *testing.T) {
	dsn := testcluster.PostgresDSN(t)
	pc, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("DSN %q: %v", dsn, err)
	}
	network, addr := pgconn.NetworkAddress(pc.Host, pc.Port)
	px := startProxy(t, network, addr)
	cfg, pool := pgTables(t, dsn)
	cfg.DSN = pgDSNVia(t, dsn, px.ln.Addr().String())
	pg := newPGSink(t, cfg)
	c := testcluster.New(t, 2, &testcluster.Options{Configure: func(i int, nc *node.Config) {
		nc.Stores = []node.StoreConfig{
			{Name: "pv", Kind: node.KindCounter, Sink: pg, Interval: time.Hour, RetryMax: 3, RetryDelay: 20 * time.Millisecond, FlushTimeout: 2 * time.Second},
			{Name: "ev", Kind: node.KindBuffer, Sink: pg, Interval: time.Hour, RetryMax: 3, RetryDelay: 20 * time.Millisecond, FlushTimeout: 2 * time.Second},
		}
	}})
	ctx := ctxT(t)
	cl := dial(t, c.RPCAddrs()...)
	flushAndCount := func(round int) {
		for i := range 100 {
			if err := cl.Incr(ctx, "pv", fmt.Sprintf("k%d", i), 1); err != nil {
				t.Fatal(err)
			}
			if err := cl.Insert(ctx, "ev", fmt.Sprintf("u%d", i%10), []byte(fmt.Sprintf("r%d-%d", round, i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	flushAndCount(1)
	if _, err := cl.Flush(ctx, ""); err != nil {
		t.Fatalf("flush while PostgreSQL is up: %v", err)
	}
	px.cut()
	flushAndCount(2)
	if _, err := cl.Flush(ctx, ""); err == nil {
		t.Fatal("flush while PostgreSQL is down reported success")
	}
	var letters int
	for _, n := range c.Nodes() {
		l, err := n.DeadLetters("")
		if err != nil {
			t.Fatal(err)
		}
		letters += len(l)
	}
	if letters == 0 {
		t.Fatal("nothing was dead-lettered during the outage")
	}
	px.restore()
	for _, n := range c.Nodes() {
		if res, err := n.ReplayDeadLetters(ctx, ""); err != nil || len(res.Failed) != 0 {
			t.Fatalf("%s: replay: %+v, %v", n.Name(), res, err)
		}
	}
	var sum, values int64
	if err := pool.QueryRow(ctx, "select coalesce(sum(count),0) from "+cfg.CountersTable).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, "select count(distinct value) from "+cfg.ValuesTable).Scan(&values); err != nil {
		t.Fatal(err)
	}
	if sum != 200 || values != 200 {
		t.Fatalf("after the outage and replay: counters sum %d, %d distinct values; want 200 and 200", sum, values)
	}
}
