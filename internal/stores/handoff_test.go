package stores

import (
	"testing"

	"github.com/hoard-dev/hoard/internal/cache"
	"github.com/hoard-dev/hoard/internal/route"
)

// TestDeletesOutliveTheHandOff: a cache's entries are handed over by ops
// routed with no deadline of their own, so retried for the router's
// DefaultOpTimeout; a delete at the new owner is remembered for longer, so
// that an entry arriving at the end of its retries does not undo it, with
// as long again for the old owner to learn of the ring change.
func TestDeletesOutliveTheHandOff(t *testing.T) {
	if cache.DeleteMemory < 2*route.DefaultOpTimeout {
		t.Fatalf("cache.DeleteMemory %v is shorter than twice route.DefaultOpTimeout %v", cache.DeleteMemory, route.DefaultOpTimeout)
	}
}
