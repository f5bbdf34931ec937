package testcluster_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/testcluster"
)

// recorder is a testing.TB that records Fatalf and Skipf instead of
// stopping the test, so the helpers' failures can be checked.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }

func (r *recorder) Skipf(format string, args ...any) { r.skip = fmt.Sprintf(format, args...) }

func TestWaitFor(t *testing.T) {
	t.Run("holds at once", func(t *testing.T) {
		r := &recorder{TB: t}
		calls := 0
		testcluster.WaitFor(r, time.Second, "nothing", func() error { calls++; return nil })
		if r.fatal != "" || calls != 1 {
			t.Fatalf("fatal %q after %d calls; want no failure after 1", r.fatal, calls)
		}
	})
	t.Run("holds later", func(t *testing.T) {
		r := &recorder{TB: t}
		calls := 0
		testcluster.WaitFor(r, 10*time.Second, "the third call", func() error {
			if calls++; calls < 3 {
				return fmt.Errorf("call %d", calls)
			}
			return nil
		})
		if r.fatal != "" || calls != 3 {
			t.Fatalf("fatal %q after %d calls; want no failure after 3", r.fatal, calls)
		}
	})
	t.Run("never holds", func(t *testing.T) {
		r := &recorder{TB: t}
		start := time.Now()
		calls := 0
		testcluster.WaitFor(r, 100*time.Millisecond, "the impossible", func() error {
			calls++
			return fmt.Errorf("still false after %d calls", calls)
		})
		if took := time.Since(start); took < 100*time.Millisecond {
			t.Fatalf("gave up after %s, before its 100ms timeout", took)
		}
		want := fmt.Sprintf("timed out after 100ms waiting for the impossible: still false after %d calls", calls)
		if r.fatal != want {
			t.Fatalf("failed with %q, want %q", r.fatal, want)
		}
		if calls < 5 {
			t.Fatalf("checked %d times in 100ms; want a short poll interval", calls)
		}
	})
}

func TestSkipOrFailInCI(t *testing.T) {
	for _, tc := range []struct {
		ci               string
		wantFatal, wantS bool
	}{
		{ci: "true", wantFatal: true},
		{ci: "", wantS: true},
		{ci: "false", wantS: true},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			r := &recorder{TB: t}
			testcluster.SkipOrFailInCI(r, "no %s here", "database")
			if (r.fatal != "") != tc.wantFatal || (r.skip != "") != tc.wantS {
				t.Fatalf("fatal %q, skip %q; want fatal %v, skip %v", r.fatal, r.skip, tc.wantFatal, tc.wantS)
			}
			if msg := r.fatal + r.skip; !strings.Contains(msg, "no database here") {
				t.Fatalf("message %q lacks the reason", msg)
			}
		})
	}
}

// TestKillAndRestart runs a cluster through a crash and a restart; the
// package's TestMain checks that Close stopped every goroutine.
func TestKillAndRestart(t *testing.T) {
	c := testcluster.New(t, 3, nil)
	c.Kill(2)
	c.WaitRing(0, 1)
	c.Restart(2)
	c.WaitConverged()
	if got := len(c.Node(2).Ring().Members()); got != 3 {
		t.Fatalf("the restarted node's ring has %d members, want 3", got)
	}
	if c.Node(2).Name() != "n3" {
		t.Fatalf("restarted as %s, want n3", c.Node(2).Name())
	}
}
