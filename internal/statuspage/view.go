package statuspage

import (
	"slices"
	"strings"
	"time"

	"github.com/hoard-dev/hoard/internal/proto"
)

// View is one node's view of its cluster: what the page shows and the JSON
// its script polls (GET /v1/cluster).
type View struct {
	// Node is the answering node.
	Node proto.Status `json:"node"`
	// Members as the answering node's gossip sees them, failed and left
	// ones included; Partitions is each one's count in Ring.
	Members []proto.Member `json:"members"`
	// Ring is the answering node's ring.
	Ring Ring `json:"ring"`
	// Nodes holds each ring member's own figures, stores included; a member
	// that could not be asked has Error set.
	Nodes []proto.NodeInfo `json:"nodes"`
	// Stores sums Nodes per store, across the nodes that answered.
	Stores []proto.StoreInfo `json:"stores"`
	// Colours gives each member's and owner's [Colour], filled in by
	// [Complete].
	Colours map[string]string `json:"colours"`
	// Error says why Nodes is empty or incomplete as a whole.
	Error string `json:"error,omitempty"`
	// Time is when the view was taken.
	Time time.Time `json:"time"`
}

// Ring is a ring as the page draws it.
type Ring struct {
	Version uint64 `json:"version"`
	// Owners names each partition's owner, partition p at index p.
	Owners []string `json:"owners"`
	// SVG is [RingSVG] of Owners, filled in by [Complete].
	SVG string `json:"svg"`
}

// Complete fills in what v derives from its own fields: the ring's drawing,
// the totals per store and each member's partition count, and sorts members
// by name. It returns the completed copy.
func Complete(v View) View {
	v.Ring.SVG = RingSVG(v.Ring.Owners)
	count := map[string]int{}
	for _, o := range v.Ring.Owners {
		count[o]++
	}
	v.Members = slices.Clone(v.Members)
	for i := range v.Members {
		v.Members[i].Partitions = count[v.Members[i].Name]
	}
	slices.SortFunc(v.Members, func(a, b proto.Member) int { return strings.Compare(a.Name, b.Name) })
	v.Stores = totals(v.Nodes)
	v.Colours = map[string]string{}
	for _, m := range v.Members {
		v.Colours[m.Name] = Colour(m.Name)
	}
	for o := range count {
		v.Colours[o] = Colour(o)
	}
	for _, n := range v.Nodes {
		v.Colours[n.Node] = Colour(n.Node)
	}
	return v
}

// totals sums the stores of nodes per store name, sorted by name; Node is
// left empty and LastFlush is the latest.
func totals(nodes []proto.NodeInfo) []proto.StoreInfo {
	byName := map[string]*proto.StoreInfo{}
	var names []string
	for _, n := range nodes {
		for _, s := range n.Stores {
			t, ok := byName[s.Store]
			if !ok {
				t = &proto.StoreInfo{Store: s.Store, Kind: s.Kind}
				byName[s.Store] = t
				names = append(names, s.Store)
			}
			t.Keys += s.Keys
			t.Values += s.Values
			t.Bytes += s.Bytes
			t.Flushes += s.Flushes
			t.Failures += s.Failures
			t.DeadLettered += s.DeadLettered
			if s.LastFlush.After(t.LastFlush) {
				t.LastFlush = s.LastFlush
			}
		}
	}
	slices.Sort(names)
	out := make([]proto.StoreInfo, 0, len(names))
	for _, name := range names {
		out = append(out, *byName[name])
	}
	return out
}
