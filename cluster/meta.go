package cluster

import (
	"fmt"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// State is what a node says of itself in its metadata.
type State string

const (
	// StateAlive: the node takes writes and owns partitions.
	StateAlive State = "alive"
	// StateLeaving: the node is leaving gracefully; peers drop it from their
	// rings at once, before it is gone from the gossip.
	StateLeaving State = "leaving"
)

// Meta is the metadata every node gossips about itself.
type Meta struct {
	Cluster     string `msgpack:"c"`
	RPCAddr     string `msgpack:"r"`
	HTTPAddr    string `msgpack:"h"`
	State       State  `msgpack:"s"`
	Version     string `msgpack:"v"`
	Fingerprint string `msgpack:"f"`
	Stores      string `msgpack:"st"` // digest of the declared stores
	Origin      string `msgpack:"o"`  // this incarnation's log: see Config.Origin
}

func (m Meta) encode() ([]byte, error) { return msgpack.Marshal(&m) }

func decodeMeta(b []byte) (Meta, error) {
	var m Meta
	if len(b) == 0 {
		return m, fmt.Errorf("no metadata")
	}
	if err := msgpack.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("undecodable metadata: %w", err)
	}
	return m, nil
}

// Status is a member's liveness as the local node sees it.
type Status string

const (
	StatusAlive  Status = "alive"  // reachable (possibly suspected, not yet declared dead)
	StatusFailed Status = "failed" // declared dead by the failure detector
	StatusLeft   Status = "left"   // left gracefully
)

// Member is one node as the local node sees it.
type Member struct {
	Name       string
	GossipAddr string
	Meta
	Status Status
	Since  time.Time // when Status last changed
}

// InRing reports whether the member can own partitions: alive and not
// leaving.
func (m Member) InRing() bool { return m.Status == StatusAlive && m.State == StateAlive }
