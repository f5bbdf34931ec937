// Package proto holds the RPC method names, message types and error codes
// that nodes and clients exchange over the transport. It is internal: the
// wire format is versioned by transport.ProtocolVersion, not by this
// package's Go API.
package proto

// Method names.
const (
	MethodStatus  = "status"
	MethodMembers = "members"
	MethodRing    = "ring"
	MethodOwner   = "owner"
)

// Error codes carried by transport.Error.
const (
	CodeInvalid      = "invalid"       // bad argument: empty key, unknown store...
	CodeShuttingDown = "shutting_down" // the node is leaving or stopping
	CodeNoRing       = "no_ring"       // the node has no ring to place keys with
)

// Status describes the node that answers.
type Status struct {
	Name        string `msgpack:"name"`
	Cluster     string `msgpack:"cluster"`
	Version     string `msgpack:"version"`
	State       string `msgpack:"state"`
	RingVersion uint64 `msgpack:"ring_version"`
	Ready       bool   `msgpack:"ready"`
}

// Member is one member as the answering node sees it.
type Member struct {
	Name       string `msgpack:"name"`
	GossipAddr string `msgpack:"gossip"`
	RPCAddr    string `msgpack:"rpc"`
	HTTPAddr   string `msgpack:"http"`
	Status     string `msgpack:"status"` // alive, failed, left
	State      string `msgpack:"state"`  // alive, leaving
	Version    string `msgpack:"version"`
	Partitions int    `msgpack:"partitions"` // owned in the answering node's ring
}

// MembersResponse answers MethodMembers.
type MembersResponse struct {
	Members []Member `msgpack:"members"`
}

// RingResponse answers MethodRing with everything needed to rebuild the
// node's ring snapshot exactly: placement is a pure function of these.
type RingResponse struct {
	Version      uint64       `msgpack:"version"`
	Checksum     uint64       `msgpack:"checksum"`
	Partitions   int          `msgpack:"partitions"`
	Load         float64      `msgpack:"load"`
	VirtualNodes int          `msgpack:"vnodes"`
	Backups      int          `msgpack:"backups"`
	Members      []RingMember `msgpack:"members"`
}

// RingMember is a member of a ring.
type RingMember struct {
	Name string `msgpack:"name"`
	Addr string `msgpack:"addr"`
}

// OwnerRequest asks where a key lives.
type OwnerRequest struct {
	Store string `msgpack:"store"`
	Key   string `msgpack:"key"`
}

// OwnerResponse answers MethodOwner.
type OwnerResponse struct {
	Partition   int          `msgpack:"partition"`
	Owner       RingMember   `msgpack:"owner"`
	Backups     []RingMember `msgpack:"backups"`
	RingVersion uint64       `msgpack:"ring_version"`
}
