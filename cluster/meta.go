package cluster

import (
	"fmt"
	"slices"
	"strings"
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
	Stores      string `msgpack:"st"`          // digest of the declared stores
	Origin      string `msgpack:"o"`           // this incarnation's log: see Config.Origin
	Trust       string `msgpack:"t,omitempty"` // Trust.encode: "" when TLS is off
}

// Trust names the certificate authorities of a node's TLS by key
// identifier (short hex, as tlsconf.Reloader.Trust gives them).
type Trust struct {
	On     bool     // TLS is on
	Issuer string   // the CA that signed the node's certificate; "" unknown
	CAs    []string // the CAs it verifies peers against; none: it verifies nobody
}

func (t Trust) encode() string {
	if !t.On {
		return ""
	}
	return "tls/" + t.Issuer + "/" + strings.Join(t.CAs, ",")
}

func decodeTrust(s string) Trust {
	if s == "" {
		return Trust{}
	}
	t := Trust{On: true}
	parts := strings.SplitN(strings.TrimPrefix(s, "tls/"), "/", 2)
	t.Issuer = parts[0]
	if len(parts) == 2 && parts[1] != "" {
		t.CAs = strings.Split(parts[1], ",")
	}
	return t
}

// refusal says why a node of Trust local cannot admit one of Trust remote
// (their RPC connections would fail), "" when it can.
func (local Trust) refusal(remote Trust) string {
	switch {
	case local.On && !remote.On:
		return "it runs without TLS, this node with TLS (set the same tls block on every node)"
	case !local.On && remote.On:
		return "it runs with TLS, this node without (set the same tls block on every node)"
	case len(local.CAs) > 0 && remote.Issuer != "" && !slices.Contains(local.CAs, remote.Issuer):
		return fmt.Sprintf("its certificate is signed by a CA (key id %s) that this node does not trust (ca_file)", remote.Issuer)
	case len(remote.CAs) > 0 && local.Issuer != "" && !slices.Contains(remote.CAs, local.Issuer):
		return fmt.Sprintf("it does not trust the CA (key id %s) that signed this node's certificate (its ca_file)", local.Issuer)
	}
	return ""
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
	// Learned is when this node first heard of the member's current
	// incarnation (Meta.Origin): a restart under a new origin sets it
	// again, a metadata update of the same incarnation does not.
	Learned time.Time
}

// InRing reports whether the member can own partitions: alive and not
// leaving.
func (m Member) InRing() bool { return m.Status == StatusAlive && m.State == StateAlive }
