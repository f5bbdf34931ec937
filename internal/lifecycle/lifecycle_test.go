package lifecycle

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestStatesOnlyMoveForward(t *testing.T) {
	cases := []struct {
		name      string
		run       func(l *Lifecycle)
		want      State
		refusing  bool
		leaveWins bool // a later Leave is carried out by its caller
	}{
		{name: "new", run: func(*Lifecycle) {}, want: Starting, leaveWins: true},
		{name: "serving", run: func(l *Lifecycle) { l.Serve() }, want: Serving, leaveWins: true},
		{name: "leaving", run: func(l *Lifecycle) { l.Serve(); l.Leave() }, want: Leaving},
		{name: "serve after leave stays leaving", run: func(l *Lifecycle) { l.Leave(); l.Serve() }, want: Leaving},
		{name: "stopping", run: func(l *Lifecycle) { l.Serve(); l.Stop(false) }, want: Stopping, refusing: true},
		{name: "stopped", run: func(l *Lifecycle) { l.Stop(false); l.Finish() }, want: Stopped, refusing: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := New()
			tc.run(l)
			if l.State() != tc.want || l.Refusing() != tc.refusing {
				t.Fatalf("state %d refusing %v, want %d %v", l.State(), l.Refusing(), tc.want, tc.refusing)
			}
			if first, _, _ := l.Leave(); first != tc.leaveWins {
				t.Fatalf("Leave first = %v, want %v", first, tc.leaveWins)
			}
		})
	}
}

func TestOneStopperOthersWait(t *testing.T) {
	l := New()
	if !l.Stop(true) || l.Stop(false) {
		t.Fatal("two callers were told to carry out the stop")
	}
	if _, was, left := l.Leave(); was != Stopping || !left {
		t.Fatalf("Leave during a leaving stop saw %d, left %v", was, left)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := l.Wait(ctx); err == nil {
		t.Fatal("Wait returned before the stop finished")
	}
	l.Finish()
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestGoroutinesEndWithTheBackground(t *testing.T) {
	l := New()
	ran := make(chan struct{})
	if !l.Go(func() { <-l.Background(); close(ran) }) {
		t.Fatal("Go refused while starting")
	}
	l.EndBackground()
	l.EndBackground() // idempotent
	if l.Go(func() { t.Error("ran after the background ended") }) {
		t.Fatal("Go accepted after EndBackground")
	}
	if err := l.WaitGoroutines(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-ran
}
