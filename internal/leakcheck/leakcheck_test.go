package leakcheck

import "testing"

// A goroutine of our own still running when the tests end is a leak, found
// without waiting out the grace memberlist's probes get.
func TestCheckFindsALeak(t *testing.T) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-stop
	}()
	err := check()
	close(stop)
	<-done
	if err == nil {
		t.Fatal("check found no leak while a goroutine was blocked")
	}
	if err := check(); err != nil {
		t.Fatalf("check after the goroutine ended: %v", err)
	}
}
