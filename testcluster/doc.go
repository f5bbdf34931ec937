// Package testcluster runs N real hoard nodes in one process for tests, on
// 127.0.0.1 with port 0 and short gossip timers, logging to t.Log and
// cleaned up with t.Cleanup. Users can test their sinks and handlers with
// it too.
//
//	c := testcluster.New(t, 3, &testcluster.Options{
//		Configure: func(i int, cfg *node.Config) { cfg.Stores = stores },
//	})
//	c.Kill(2)          // crash: no flush, no leave
//	c.WaitConverged()  // survivors agree on a ring without n3
//	c.Restart(2)       // same name, new ports
//
// Tests wait for conditions with WaitFor, never by sleeping a fixed time,
// and a test that cannot check what it is for calls SkipOrFailInCI:
//
//	testcluster.WaitFor(t, 10*time.Second, "n1 to flush", func() error {
//		if got := mem.Counts("pv")["k"]; got != 1 {
//			return fmt.Errorf("the sink has %d", got)
//		}
//		return nil
//	})
package testcluster
