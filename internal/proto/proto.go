// Package proto holds the RPC method names, message types and error codes
// that nodes and clients exchange over the transport. It is internal: the
// wire format is versioned by transport.ProtocolVersion, not by this
// package's Go API.
package proto

import "time"

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
	Name        string `msgpack:"name" json:"name"`
	Cluster     string `msgpack:"cluster" json:"cluster"`
	Version     string `msgpack:"version" json:"version"`
	State       string `msgpack:"state" json:"state"`
	RingVersion uint64 `msgpack:"ring_version" json:"ring_version"`
	Ready       bool   `msgpack:"ready" json:"ready"`
}

// Member is one member as the answering node sees it.
type Member struct {
	Name       string `msgpack:"name" json:"name"`
	GossipAddr string `msgpack:"gossip" json:"gossip"`
	RPCAddr    string `msgpack:"rpc" json:"rpc"`
	HTTPAddr   string `msgpack:"http" json:"http"`
	Status     string `msgpack:"status" json:"status"` // alive, failed, left
	State      string `msgpack:"state" json:"state"`   // alive, leaving
	Version    string `msgpack:"version" json:"version"`
	Partitions int    `msgpack:"partitions" json:"partitions"` // owned in the answering node's ring
	Stores     string `msgpack:"stores" json:"stores"`         // digest of the member's declared stores
}

// MembersResponse answers MethodMembers.
type MembersResponse struct {
	Members []Member `msgpack:"members" json:"members"`
}

// RingResponse answers MethodRing with everything needed to rebuild the
// node's ring snapshot exactly: placement is a pure function of these.
type RingResponse struct {
	Version      uint64       `msgpack:"version" json:"version"`
	Checksum     uint64       `msgpack:"checksum" json:"checksum"`
	Partitions   int          `msgpack:"partitions" json:"partitions"`
	Load         float64      `msgpack:"load" json:"load"`
	VirtualNodes int          `msgpack:"vnodes" json:"vnodes"`
	Backups      int          `msgpack:"backups" json:"backups"`
	Members      []RingMember `msgpack:"members" json:"members"`
}

// RingMember is a member of a ring.
type RingMember struct {
	Name string `msgpack:"name" json:"name"`
	Addr string `msgpack:"addr" json:"addr"`
}

// OwnerRequest asks where a key lives.
type OwnerRequest struct {
	Store string `msgpack:"store" json:"store"`
	Key   string `msgpack:"key" json:"key"`
}

// OwnerResponse answers MethodOwner.
type OwnerResponse struct {
	Partition   int          `msgpack:"partition" json:"partition"`
	Owner       RingMember   `msgpack:"owner" json:"owner"`
	Backups     []RingMember `msgpack:"backups" json:"backups"`
	RingVersion uint64       `msgpack:"ring_version" json:"ring_version"`
}

// Write path and flush methods.
const (
	MethodIncr      = "incr"
	MethodInsert    = "insert"
	MethodSize      = "size"
	MethodDump      = "dump"
	MethodInfo      = "info"
	MethodGet       = "get"
	MethodFetch     = "fetch"
	MethodSet       = "set"
	MethodDelete    = "delete"
	MethodLeave     = "leave"
	MethodIncrAsync = "incr.async"
	MethodCount     = "count"
	MethodForward   = "fwd" // a batch of ops a node forwards to their owner
	MethodFlush     = "flush"
	MethodDLQList   = "dlq.list"
	MethodDLQReplay = "dlq.replay"
	MethodReplicate = "repl"    // an owner's ops, and what its sink committed, to a backup
	MethodKeyring   = "keyring" // a gossip keyring listing or change, on every member
)

// More error codes.
const (
	CodeUnknownStore  = "unknown_store"
	CodeWrongKind     = "wrong_kind"
	CodeOverflow      = "overflow"
	CodeNotOwner      = "not_owner"
	CodeUnavailable   = "unavailable"   // the owner could not be reached; the op was not applied
	CodeIndeterminate = "indeterminate" // the owner went away after the op was sent: it may have been applied
	CodeOverloaded    = "overloaded"
	CodeInvalidValue  = "invalid_value"
	CodeLoadFailed    = "load_failed"
	CodeForbidden     = "forbidden"
)

// IncrRequest adds Delta to the counter Key of Store.
type IncrRequest struct {
	//lint:ignore U1000 read by msgpack through reflection: encode as an array
	_msgpack struct{} `msgpack:",as_array"`
	Store    string
	Key      string
	Delta    int64
}

// KeyRequest names one key.
type KeyRequest struct {
	//lint:ignore U1000 read by msgpack through reflection: encode as an array
	_msgpack struct{} `msgpack:",as_array"`
	Store    string
	Key      string
}

// CountResponse answers MethodCount.
type CountResponse struct {
	Count int64 `msgpack:"count" json:"count"`
}

// Op kinds in a ForwardRequest.
const (
	OpIncr   uint8 = 1
	OpCount  uint8 = 2
	OpInsert uint8 = 3
	OpSize   uint8 = 4
	OpDump   uint8 = 5
	OpGet    uint8 = 6
	OpFetch  uint8 = 7
	OpSet    uint8 = 8
	OpDelete uint8 = 9
	OpAdopt  uint8 = 10 // a cache entry handed over by the partition's previous owner; Delta: when it was loaded; TTL: the time it had left; no Values: the key was deleted at Delta
)

// Flags in OpResult.Count of OpGet and OpFetch.
const (
	FlagFound  = 1 // the key has a value
	FlagLoaded = 2 // the value came from the loader, not the cache
)

// InsertRequest appends Values, in order, to the buffer Key of Store.
type InsertRequest struct {
	//lint:ignore U1000 read by msgpack through reflection: encode as an array
	_msgpack struct{} `msgpack:",as_array"`
	Store    string
	Key      string
	Values   [][]byte
}

// SetRequest stores Value for Key of a cache Store.
type SetRequest struct {
	Store string `msgpack:"store" json:"store"`
	Key   string `msgpack:"key" json:"key"`
	Value []byte `msgpack:"value" json:"value"`
}

// GetResponse answers MethodGet and MethodFetch.
type GetResponse struct {
	Value  []byte `msgpack:"value" json:"value"`
	Found  bool   `msgpack:"found" json:"found"`
	Loaded bool   `msgpack:"loaded" json:"loaded"` // from the loader, not the cache
}

// ValuesResponse answers MethodDump.
type ValuesResponse struct {
	Values [][]byte `msgpack:"values" json:"values"`
}

// InfoRequest asks for the stores' state, on the answering node only when
// Local, else on every live node.
type InfoRequest struct {
	Store string `msgpack:"store" json:"store"`
	Local bool   `msgpack:"local" json:"local"`
}

// StoreInfo is one store's state on one node.
type StoreInfo struct {
	Node         string    `msgpack:"node" json:"node"`
	Store        string    `msgpack:"store" json:"store"`
	Kind         string    `msgpack:"kind" json:"kind"`
	Keys         int       `msgpack:"keys" json:"keys"`
	Values       int64     `msgpack:"values" json:"values"` // buffers: values held; counters: increments held
	Bytes        int64     `msgpack:"bytes" json:"bytes"`   // buffers: bytes held, in-flight batches included
	Flushes      int64     `msgpack:"flushes" json:"flushes"`
	Failures     int64     `msgpack:"failures" json:"failures"`
	DeadLettered int64     `msgpack:"dead_lettered" json:"dead_lettered"`
	LastFlush    time.Time `msgpack:"last_flush" json:"last_flush"`
	Error        string    `msgpack:"error" json:"error"` // the node could not be asked
}

// NodeInfo is one node's state.
type NodeInfo struct {
	Node      string `msgpack:"node" json:"node"`
	Unflushed int64  `msgpack:"unflushed" json:"unflushed"` // ops acknowledged and not yet flushed
	WALBytes  int64  `msgpack:"wal_bytes" json:"wal_bytes"` // the write-ahead log's size
	// ReplicaOps: ops held for the members this node backs up.
	ReplicaOps int64 `msgpack:"replica_ops" json:"replica_ops"`
	// Failovers: failover flushes done here; LastFailover: the last one's end.
	Failovers    int64       `msgpack:"failovers" json:"failovers"`
	LastFailover time.Time   `msgpack:"last_failover" json:"last_failover"`
	Stores       []StoreInfo `msgpack:"stores" json:"stores"`
	Error        string      `msgpack:"error" json:"error"`
}

// InfoResponse answers MethodInfo.
type InfoResponse struct {
	Nodes []NodeInfo `msgpack:"nodes" json:"nodes"`
}

// Op is one operation forwarded to its owner. TTL (OpSet: the entry
// expires TTL after the owner stores it; OpAdopt: the time the entry had
// left; zero: no expiry) is left off the wire when zero, so that nodes of
// earlier versions, which know only the first five fields, read every op
// without one.
type Op struct {
	//lint:ignore U1000 read by msgpack through reflection: encode as an array
	_msgpack struct{} `msgpack:",as_array"`
	Kind     uint8
	Store    string
	Key      string
	Delta    int64
	Values   [][]byte
	TTL      time.Duration // nanoseconds on the wire
}

// ForwardRequest carries ops, in order, to the node that owns their keys.
type ForwardRequest struct {
	//lint:ignore U1000 read by msgpack through reflection: encode as an array
	_msgpack struct{} `msgpack:",as_array"`
	Ops      []Op
}

// OpResult is the outcome of one forwarded op.
type OpResult struct {
	//lint:ignore U1000 read by msgpack through reflection: encode as an array
	_msgpack struct{} `msgpack:",as_array"`
	Code     string   // "" on success
	Message  string
	Count    int64    // OpCount, OpSize
	Values   [][]byte // OpDump
}

// ForwardResponse holds one result per op of the request, in order.
type ForwardResponse struct {
	//lint:ignore U1000 read by msgpack through reflection: encode as an array
	_msgpack struct{} `msgpack:",as_array"`
	Results  []OpResult
}

// ReplicateRequest carries an owner's ops to a backup of their partitions:
// Ops is a frame of write-ahead log records (journal encoding, each after
// its uvarint length), in sequence order per partition; Trims are the ops
// its sink committed since. The backup answers once it holds the ops
// durably.
type ReplicateRequest struct {
	//lint:ignore U1000 read by msgpack through reflection: encode as an array
	_msgpack struct{} `msgpack:",as_array"`
	Origin   string
	Ops      []byte
	Trims    []TrimRequest
}

// Range is a run of op sequence numbers of one partition.
type Range struct {
	//lint:ignore U1000 read by msgpack through reflection: encode as an array
	_msgpack  struct{} `msgpack:",as_array"`
	Partition int
	First     uint64
	Last      uint64
}

// TrimRequest tells a backup that the ops of Store in Ranges left the
// owner's memory (its sink has them, or its dead-letter): the backup drops
// what it holds up to each range's Last.
type TrimRequest struct {
	//lint:ignore U1000 read by msgpack through reflection: encode as an array
	_msgpack struct{} `msgpack:",as_array"`
	Store    string
	Ranges   []Range
}

// FlushRequest asks to flush Store ("" for every store), on the answering
// node only when Local, else on every live node.
type FlushRequest struct {
	Store string `msgpack:"store" json:"store"`
	Local bool   `msgpack:"local" json:"local"`
}

// NodeFlush is what one node flushed.
type NodeFlush struct {
	Node         string `msgpack:"node" json:"node"`
	Batches      int    `msgpack:"batches" json:"batches"`
	Keys         int    `msgpack:"keys" json:"keys"`
	DeadLettered int    `msgpack:"dead_lettered" json:"dead_lettered"`
	Error        string `msgpack:"error" json:"error"`
}

// FlushResponse answers MethodFlush.
type FlushResponse struct {
	Nodes []NodeFlush `msgpack:"nodes" json:"nodes"`
}

// DLQRequest names a store ("" for all).
type DLQRequest struct {
	Store string `msgpack:"store" json:"store"`
}

// DeadLetter describes one dead-lettered batch.
type DeadLetter struct {
	Store    string    `msgpack:"store" json:"store"`
	Batch    string    `msgpack:"batch" json:"batch"`
	Kind     string    `msgpack:"kind" json:"kind"`
	Keys     int       `msgpack:"keys" json:"keys"`
	Time     time.Time `msgpack:"time" json:"time"`
	Attempts int       `msgpack:"attempts" json:"attempts"`
	Error    string    `msgpack:"error" json:"error"`
	Path     string    `msgpack:"path" json:"path"`
}

// DLQListResponse answers MethodDLQList.
type DLQListResponse struct {
	Letters []DeadLetter `msgpack:"letters" json:"letters"`
}

// DLQReplayResponse answers MethodDLQReplay.
type DLQReplayResponse struct {
	Replayed []string `msgpack:"replayed" json:"replayed"` // batch IDs the sink accepted, now removed
	Failed   []string `msgpack:"failed" json:"failed"`     // "batch: error", still dead-lettered
}

// Keyring operations (KeyringRequest.Op).
const (
	KeyringList    = "list"
	KeyringInstall = "install"
	KeyringUse     = "use"
	KeyringRemove  = "remove"
)

// KeyringRequest lists or changes the gossip keyring on every member of the
// ring, or, with Local, on the node asked only. Key is base64 (standard
// encoding), empty for KeyringList.
type KeyringRequest struct {
	Op    string `msgpack:"op"`
	Key   string `msgpack:"key"`
	Local bool   `msgpack:"local"`
}

// NodeKeyring is one node's keyring after the operation, or its failure.
type NodeKeyring struct {
	Node    string   `msgpack:"node" json:"node"`
	Keys    []string `msgpack:"keys" json:"keys"`       // base64, the primary among them
	Primary string   `msgpack:"primary" json:"primary"` // base64
	Error   string   `msgpack:"error" json:"error,omitempty"`
}

// KeyringResponse answers MethodKeyring, a part per node sorted by name.
type KeyringResponse struct {
	Nodes []NodeKeyring `msgpack:"nodes" json:"nodes"`
}
