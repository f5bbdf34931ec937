package node_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/client"
	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/testcluster"
)

// replicatedCluster starts three nodes whose counter and buffer stores
// acknowledge replicated (the default) into PostgreSQL and flush only when
// asked.
func replicatedCluster(t *testing.T) (*testcluster.Cluster, func(ctx context.Context) (int64, int64, int64)) {
	t.Helper()
	cfg, pool := pgTables(t, testcluster.PostgresDSN(t))
	pg := newPGSink(t, cfg)
	c := testcluster.New(t, 3, &testcluster.Options{Configure: func(i int, nc *node.Config) {
		nc.Stores = []node.StoreConfig{
			{Name: "pv", Kind: node.KindCounter, Sink: pg, Interval: time.Hour},
			{Name: "ev", Kind: node.KindBuffer, Sink: pg, Interval: time.Hour},
		}
	}})
	// totals returns the counters' sum, the values held and the distinct ones.
	totals := func(ctx context.Context) (sum, values, distinct int64) {
		t.Helper()
		if err := pool.QueryRow(ctx, "select coalesce(sum(count),0) from "+cfg.CountersTable+" where store = 'pv'").Scan(&sum); err != nil {
			t.Fatal(err)
		}
		if err := pool.QueryRow(ctx, "select count(*), count(distinct value) from "+cfg.ValuesTable+" where store = 'ev'").Scan(&values, &distinct); err != nil {
			t.Fatal(err)
		}
		return sum, values, distinct
	}
	return c, totals
}

// writeAll sends n increments of 1 and n inserts (distinct values) through
// the given clients and returns how many of each were acknowledged.
func writeAll(t *testing.T, ctx context.Context, clients []*client.Client, tag string, n int) (incrs, inserts int64) {
	t.Helper()
	var ok1, ok2 atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				c := clients[i%len(clients)]
				if err := c.Incr(ctx, "pv", fmt.Sprintf("k%d", i%200), 1); err == nil {
					ok1.Add(1)
				} else {
					t.Logf("incr: %v", err)
				}
				if err := c.Insert(ctx, "ev", fmt.Sprintf("u%d", i%50), []byte(fmt.Sprintf("%s-%d", tag, i))); err == nil {
					ok2.Add(1)
				} else {
					t.Logf("insert: %v", err)
				}
			}
		})
	}
	wg.Wait()
	return ok1.Load(), ok2.Load()
}

// TestReplicatedWritesSurviveTheOwnersLoss: a node that crashes and never
// comes back held acknowledged writes it had not flushed; its backups
// deliver them when it is declared failed, and PostgreSQL holds every
// acknowledged write exactly once.
func TestReplicatedWritesSurviveTheOwnersLoss(t *testing.T) {
	c, totals := replicatedCluster(t)
	ctx := ctxT(t)
	var clients []*client.Client
	for _, addr := range c.RPCAddrs() {
		clients = append(clients, dial(t, addr))
	}
	incrs, inserts := writeAll(t, ctx, clients, "a", 3000)
	if incrs != 3000 || inserts != 3000 {
		t.Fatalf("acknowledged %d increments and %d inserts of 3000", incrs, inserts)
	}
	held := c.Node(0).Stats().Unflushed
	if held == 0 {
		t.Fatal("n1 holds nothing unflushed: the test would prove nothing")
	}
	c.Kill(0) // nothing flushed, never restarted
	survivors := clients[1:]
	testcluster.WaitFor(t, 30*time.Second, "the survivors deliver what n1 held", failedOver(c, 1, 2))
	if _, err := survivors[0].Flush(ctx, ""); err != nil {
		t.Fatal(err)
	}
	sum, values, distinct := totals(ctx)
	t.Logf("acknowledged %d+%d, n1 held %d unflushed at the kill; sink holds %d and %d values (%d distinct)", incrs, inserts, held, sum, values, distinct)
	if sum != incrs || values != inserts || distinct != inserts {
		t.Fatalf("sink holds %d increments and %d values (%d distinct); want %d and %d, once each", sum, values, distinct, incrs, inserts)
	}
}

// TestZombieOwnerCountsOnce: a node cut off from the others long enough to
// be declared failed goes on (a zombie): its backups deliver its ops, and
// when it comes back and flushes what it held, the sink's positions keep
// anything from counting twice; it rebuilds its partly delivered batches
// op by op.
func TestZombieOwnerCountsOnce(t *testing.T) {
	c, totals := replicatedCluster(t)
	ctx := ctxT(t)
	var clients []*client.Client
	for _, addr := range c.RPCAddrs() {
		clients = append(clients, dial(t, addr))
	}
	incrs, inserts := writeAll(t, ctx, clients, "a", 2000)
	c.Partition([]int{0}, []int{1, 2})
	testcluster.WaitFor(t, 30*time.Second, "n2 and n3 deliver what n1 held", failedOver(c, 1, 2))
	// The zombie takes writes alone meanwhile (a cluster of one in its
	// view: acknowledged after its log).
	i2, v2 := writeAll(t, ctx, clients[:1], "b", 500)
	c.Heal()
	testcluster.WaitFor(t, 30*time.Second, "the three see each other again", func() error {
		for i := range 3 {
			if snap := c.Node(i).Ring(); snap == nil || len(snap.Members()) != 3 {
				return fmt.Errorf("n%d does not see the others", i+1)
			}
		}
		return nil
	})
	for i := range 3 {
		if _, err := c.Node(i).Flush(ctx, ""); err != nil {
			t.Fatalf("flush n%d: %v", i+1, err)
		}
	}
	sum, values, distinct := totals(ctx)
	incrs, inserts = incrs+i2, inserts+v2
	var overlaps int64
	for _, n := range c.Nodes() {
		for _, s := range n.Stats().Stores {
			overlaps += s.Overlaps
		}
	}
	t.Logf("acknowledged %d+%d; sink holds %d and %d values (%d distinct); batches rebuilt after a partial failover: %d", incrs, inserts, sum, values, distinct, overlaps)
	if sum != incrs || values != inserts || distinct != inserts {
		t.Fatalf("sink holds %d increments and %d values (%d distinct); want %d and %d, once each", sum, values, distinct, incrs, inserts)
	}
}

// failedOver waits until one of the nodes did a failover flush and holds
// no replicated ops any more.
func failedOver(c *testcluster.Cluster, nodes ...int) func() error {
	return func() error {
		var done, held int64
		for _, i := range nodes {
			st := c.Node(i).Stats()
			done += st.Failovers
			held += st.ReplicaOps
		}
		if done == 0 {
			return fmt.Errorf("no failover yet (%d replicated ops held)", held)
		}
		return nil
	}
}

// TestWritesWaitForAnUnreachableBackup: a write whose partition's backup
// cannot be reached waits until the ring drops the backup, then is
// acknowledged; one whose deadline passes first ends in ErrIndeterminate
// (it is in the owner's log and memory, and reaches the sink).
func TestWritesWaitForAnUnreachableBackup(t *testing.T) {
	c, totals := replicatedCluster(t)
	owner := c.Node(0)
	snap := owner.Ring()
	key := ""
	for i := 0; key == ""; i++ {
		k := fmt.Sprintf("k%d", i)
		p, o := snap.Locate("pv", k)
		if o.Name == "n1" && snap.Backups(p)[0].Name == "n2" {
			key = k
		}
	}
	c.Kill(1)
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := owner.Incr(short, "pv", key, 1); !errors.Is(err, node.ErrIndeterminate) {
		t.Fatalf("incr with its backup unreachable and a 300ms deadline = %v, want ErrIndeterminate", err)
	}
	if err := owner.Incr(ctxT(t), "pv", key, 1); err != nil {
		t.Fatalf("incr waiting for the ring to drop its backup = %v", err)
	}
	if _, ok := owner.Ring().Member("n2"); ok {
		t.Fatal("the write was acknowledged while its unreachable backup was still in the ring")
	}
	if _, err := owner.Flush(ctxT(t), ""); err != nil {
		t.Fatal(err)
	}
	if sum, _, _ := totals(ctxT(t)); sum != 2 {
		t.Fatalf("sink holds %d increments, want 2 (the indeterminate one was applied)", sum)
	}
}

// TestPartitionsWhoseBackupsChangedAreFlushed: when a partition keeps its
// owner but changes backup (its backup left), the owner flushes it at
// once, as the new backup does not hold its ops; a partition whose owner
// and backup stay is left to its interval.
func TestPartitionsWhoseBackupsChangedAreFlushed(t *testing.T) {
	mem := sinks.NewMemory()
	c := testcluster.New(t, 3, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		cfg.Stores = []node.StoreConfig{{Name: "pageviews", Kind: node.KindCounter, Sink: mem, Interval: time.Hour}}
	}})
	n1 := c.Node(0)
	before := n1.Ring()
	keys := keysOwnedBy(n1, "", 600)
	for _, k := range keys {
		if err := n1.Incr(ctxT(t), "pageviews", k, 1); err != nil {
			t.Fatal(err)
		}
	}
	c.Leave(2)
	c.WaitConverged()
	after := n1.Ring()
	var kept, rebacked []string
	for _, k := range keys {
		p, o := after.Locate("pageviews", k)
		switch {
		case o.Name != before.Owner(p).Name:
		case before.Backups(p)[0].Name == after.Backups(p)[0].Name:
			kept = append(kept, k)
		default:
			rebacked = append(rebacked, k)
		}
	}
	if len(kept) == 0 || len(rebacked) == 0 {
		t.Fatalf("%d keys kept their owner and backup, %d changed backup: the test needs both", len(kept), len(rebacked))
	}
	testcluster.WaitFor(t, 10*time.Second, "the keys whose backup changed to be flushed", func() error {
		got := mem.Counts("pageviews")
		for _, k := range rebacked {
			if got[k] != 1 {
				return fmt.Errorf("%s, whose backup changed, not flushed", k)
			}
		}
		return nil
	})
	for _, k := range kept {
		if mem.Counts("pageviews")[k] != 0 {
			t.Fatalf("%s, whose owner and backup stayed, was flushed too", k)
		}
	}
}
