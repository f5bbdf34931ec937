package ring

// Move is a partition whose owner changes between two snapshots.
type Move struct {
	Partition int
	From      string // name of the old owner; "" if there was none
	To        string // name of the new owner; "" if there is none
}

// Diff returns the partitions whose owner differs between old and next, in
// increasing partition order; none if the snapshots agree. Either snapshot
// may be nil, meaning no owners. If old is nil, or next is nil, or their
// partition counts differ (keys map to different partitions, so nothing held
// under old is still in place), every partition of either is a move, even
// when From equals To.
func Diff(old, next *Snapshot) []Move {
	if old == nil && next == nil {
		return nil
	}
	if old == nil || next == nil || old.Partitions() != next.Partitions() {
		n := max(partitions(old), partitions(next))
		moves := make([]Move, n)
		for p := range moves {
			moves[p] = Move{Partition: p, From: ownerName(old, p), To: ownerName(next, p)}
		}
		return moves
	}
	var moves []Move
	for p := range next.owners {
		if from, to := ownerName(old, p), ownerName(next, p); from != to {
			moves = append(moves, Move{Partition: p, From: from, To: to})
		}
	}
	return moves
}

// partitions returns s.Partitions(), or 0 if s is nil.
func partitions(s *Snapshot) int {
	if s == nil {
		return 0
	}
	return s.Partitions()
}

// ownerName returns the name of the owner of partition p in s, or "" if s is
// nil or p is out of range.
func ownerName(s *Snapshot, p int) string {
	if s == nil {
		return ""
	}
	return s.Owner(p).Name
}
