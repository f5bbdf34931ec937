package testcluster

import (
	"os"
	"testing"
	"time"
)

// maxPoll bounds the interval between two checks of a WaitFor condition.
const maxPoll = 20 * time.Millisecond

// WaitFor checks cond until it returns nil, and fails the test with what
// and cond's last error if that has not happened after timeout. It polls
// every millisecond at first, backing off to every 20ms, so that a
// condition that holds soon is seen soon and a slow one costs little.
//
// what names the condition waited for ("n2 to see n4"); cond's error says
// what is still missing ("n2's ring has 3 members"). cond runs on the
// calling goroutine, so it may itself call t.Fatal. Like t.Fatal, WaitFor
// must be called from the test's goroutine.
//
//	testcluster.WaitFor(t, 10*time.Second, "the entry to expire", func() error {
//		if info, _ := n.Info("users"); info[0].Keys != 0 {
//			return fmt.Errorf("%d entries held", info[0].Keys)
//		}
//		return nil
//	})
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	interval := time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
			return
		}
		time.Sleep(interval) // poll interval, not synchronisation
		interval = min(2*interval, maxPoll)
	}
}

// SkipOrFailInCI skips the test with the given reason, or fails it when the
// environment variable CI is "true": a test that cannot check what it is
// for (a missing database, a machine too slow for its timing) may skip on
// a laptop, but must not pass silently in CI.
func SkipOrFailInCI(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true, so failing rather than skipping: "+format, args...)
		return
	}
	t.Skipf(format, args...)
}

// PostgresDSN returns the DSN of the PostgreSQL server the tests may use,
// from HOARD_TEST_POSTGRES_DSN. Without one the test skips, or fails when
// CI is "true" (SkipOrFailInCI): .ci/run starts PostgreSQL and sets it.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("HOARD_TEST_POSTGRES_DSN")
	if dsn == "" {
		SkipOrFailInCI(t, "HOARD_TEST_POSTGRES_DSN not set; to run the PostgreSQL tests: "+
			"bash -c 'source scripts/ci-postgres.sh && make test' "+
			"(or set it to a scratch database's DSN; in CI, .ci/run starts PostgreSQL)")
	}
	return dsn
}
