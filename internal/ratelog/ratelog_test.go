package ratelog

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type buf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buf) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSpace(b.b.String()), "\n")
}

// TestOneLinePerMessagePerInterval: a burst of one message writes one line,
// another message is limited on its own, and the next line of the first
// says how many were suppressed.
func TestOneLinePerMessagePerInterval(t *testing.T) {
	out := &buf{}
	r := New(hclog.New(&hclog.LoggerOptions{Output: out, Level: hclog.Debug}), 50*time.Millisecond)
	for range 1000 {
		r.Warn("bad input", "remote", "x")
	}
	r.Warn("refused")
	if got := out.lines(); len(got) != 2 {
		t.Fatalf("%d lines after a burst, want 2:\n%s", len(got), strings.Join(got, "\n"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(out.lines()) < 3 && time.Now().Before(deadline) {
		r.Warn("bad input", "remote", "x") // suppressed until the interval passed
	}
	got := out.lines()
	if len(got) != 3 || !strings.Contains(got[2], "suppressed=") {
		t.Fatalf("lines:\n%s\nwant a third line with the suppressed count", strings.Join(got, "\n"))
	}
	r.Log(hclog.Trace, "below the level")
	if len(out.lines()) != 3 {
		t.Fatal("a line below the logger's level was written")
	}
}
