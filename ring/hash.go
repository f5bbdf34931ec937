package ring

import "github.com/cespare/xxhash/v2"

// hasher is the consistent.Hasher of every snapshot: xxhash64.
type hasher struct{}

func (hasher) Sum64(b []byte) uint64 { return xxhash.Sum64(b) }

// PartitionOf returns the partition of a key of a store among partitions
// partitions: xxhash64(store + "\x00" + key) % partitions, the same value as
// [Snapshot.Partition]. It does not allocate. It returns 0 if partitions < 1.
func PartitionOf(partitions int, store, key string) int {
	if partitions < 1 {
		return 0
	}
	var d xxhash.Digest
	d.Reset()
	d.WriteString(store)
	d.WriteString("\x00")
	d.WriteString(key)
	return int(d.Sum64() % uint64(partitions))
}
