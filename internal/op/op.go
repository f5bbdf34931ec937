// Package op is hoard's internal model of an operation on one key: what it
// does (Kind), its arguments (Op) and its outcome (Result). The store kinds
// apply ops, the router carries them to owners; wire codes are translated
// only where frames are read and written.
//
//	o := op.Op{Kind: op.Incr, Store: "pageviews", Key: "/home", Delta: 1}
//	if o.Kind.Spec().Write { ... } // an unknown outcome may have applied it
package op

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/hoard-dev/hoard/internal/errs"
)

// Kind is what an op does.
type Kind uint8

const (
	Incr   Kind = iota + 1 // counters: add a delta
	Count                  // counters: the unflushed delta
	Insert                 // buffers: append values
	Size                   // buffers: how many values are held
	Dump                   // buffers: the values held
	Get                    // caches: read through; a failed load reads as not found
	Fetch                  // caches: read through; a failed load is an error
	Set                    // caches: store a value
	Delete                 // caches: remove a value
	Adopt                  // caches: take an entry (or a delete) from the partition's previous owner, unless the key has a newer one
)

// Store kinds, as declared.
const (
	StoreCounter = "counter"
	StoreBuffer  = "buffer"
	StoreCache   = "cache"
)

// Class says which ops may share a forwarded frame: writes and reads never
// do, and a dump goes alone.
type Class uint8

const (
	ClassWrite Class = iota
	ClassRead
	ClassDump
)

// Spec describes a kind of op.
type Spec struct {
	Name  string
	Store string // the store kind it fits
	Write bool   // it changes state: an unknown outcome may have applied it
	Class Class
}

// specs is the one table of op kinds, indexed by Kind.
var specs = [...]Spec{
	Incr:   {"incr", StoreCounter, true, ClassWrite},
	Count:  {"count", StoreCounter, false, ClassRead},
	Insert: {"insert", StoreBuffer, true, ClassWrite},
	Size:   {"size", StoreBuffer, false, ClassRead},
	Dump:   {"dump", StoreBuffer, false, ClassDump},
	Get:    {"get", StoreCache, false, ClassRead},
	Fetch:  {"fetch", StoreCache, false, ClassRead},
	Set:    {"set", StoreCache, true, ClassWrite},
	Delete: {"delete", StoreCache, true, ClassWrite},
	Adopt:  {"adopt", StoreCache, true, ClassWrite},
}

// Kinds lists every kind.
func Kinds() []Kind {
	out := make([]Kind, 0, len(specs)-1)
	for k := Incr; k.Valid(); k++ {
		out = append(out, k)
	}
	return out
}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return k > 0 && int(k) < len(specs) }

// Spec describes k; the zero Spec for an unknown kind.
func (k Kind) Spec() Spec {
	if !k.Valid() {
		return Spec{}
	}
	return specs[k]
}

func (k Kind) String() string {
	if !k.Valid() {
		return "unknown"
	}
	return specs[k].Name
}

// Op is one op on one key, with its arguments.
type Op struct {
	Kind   Kind
	Store  string
	Key    string
	Delta  int64    // Incr: the delta; Adopt: when the entry was loaded (or the key deleted), in unix nanoseconds
	Values [][]byte // Insert: the values; Set, Adopt: the value (an Adopt with none: the key was deleted)
	// TTL is, for a Set, how long after the owner stores the entry it
	// expires; for an Adopt, the time the entry had left at its previous
	// owner. Zero: no expiry. Relative, so that nodes' clocks need not
	// agree.
	TTL time.Duration
}

// Result is the outcome of an op.
type Result struct {
	Count   int64    // Incr, Count: the unflushed count; Insert, Size: values held
	Values  [][]byte // Dump: the values held
	Value   []byte   // Get, Fetch: the value
	Found   bool     // Get, Fetch: the key has a value
	Loaded  bool     // Get, Fetch: the value came from the loader
	Deleted bool     // Delete: there was an entry
	Err     error
}

// CopyValues copies values, with one allocation for all of them: an op
// keeps its values, which must not change under it.
func CopyValues(values [][]byte) [][]byte {
	var total int
	for _, v := range values {
		total += len(v)
	}
	arena := make([]byte, 0, total)
	copies := make([][]byte, len(values))
	for i, v := range values {
		start := len(arena)
		arena = append(arena, v...)
		copies[i] = arena[start:len(arena):len(arena)]
	}
	return copies
}

// Failed is a Result holding only err.
func Failed(err error) Result { return Result{Err: err} }

// Check checks o's key, values and TTL: CheckKey; an Insert's values
// (CheckValues) and a Set's one value (CheckValue), each at most
// maxValueBytes; a TTL only on a Set or an Adopt, never negative. Errors:
// errs.ErrInvalidKey, errs.ErrInvalidValue.
func (o *Op) Check(maxValueBytes int) error {
	if err := CheckKey(o.Store, o.Key); err != nil {
		return err
	}
	switch o.Kind {
	case Insert:
		if err := CheckValues(maxValueBytes, o.Values); err != nil {
			return err
		}
	case Set:
		if len(o.Values) != 1 {
			return fmt.Errorf("%w: set takes one value", errs.ErrInvalidValue)
		}
		if err := CheckValue(maxValueBytes, o.Values[0]); err != nil {
			return err
		}
	}
	switch {
	case o.TTL < 0:
		return fmt.Errorf("%w: negative ttl %v", errs.ErrInvalidValue, o.TTL)
	case o.TTL > 0 && o.Kind != Set && o.Kind != Adopt:
		return fmt.Errorf("%w: a ttl on a %s", errs.ErrInvalidValue, o.Kind)
	}
	return nil
}

// MaxKeyBytes is the longest key accepted.
const MaxKeyBytes = 1024

// CheckKey refuses an empty store name or key, a key over MaxKeyBytes and
// one that is not valid UTF-8, with errs.ErrInvalidKey.
func CheckKey(store, key string) error {
	switch {
	case store == "":
		return fmt.Errorf("%w: empty store name", errs.ErrInvalidKey)
	case key == "":
		return fmt.Errorf("%w: empty key", errs.ErrInvalidKey)
	case len(key) > MaxKeyBytes:
		return fmt.Errorf("%w: key of %d bytes is over the %d-byte limit", errs.ErrInvalidKey, len(key), MaxKeyBytes)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: key is not valid UTF-8", errs.ErrInvalidKey)
	}
	return nil
}

// MaxInsertBytes bounds the values of one insert, so that it always fits a
// frame when forwarded.
const MaxInsertBytes = 8 << 20

// CheckValues refuses an insert of no values, of a value over
// maxValueBytes, or of more than MaxInsertBytes in all, with
// errs.ErrInvalidValue.
func CheckValues(maxValueBytes int, values [][]byte) error {
	if len(values) == 0 {
		return fmt.Errorf("%w: no values to insert", errs.ErrInvalidValue)
	}
	total := 0
	for _, v := range values {
		if err := CheckValue(maxValueBytes, v); err != nil {
			return err
		}
		total += len(v)
	}
	if total > MaxInsertBytes {
		return fmt.Errorf("%w: %d bytes in one insert, over the %d-byte limit per call: split it", errs.ErrInvalidValue, total, MaxInsertBytes)
	}
	return nil
}

// CheckValue refuses a value over maxValueBytes with errs.ErrInvalidValue.
func CheckValue(maxValueBytes int, v []byte) error {
	if len(v) > maxValueBytes {
		return fmt.Errorf("%w: a value of %d bytes is over the %d-byte limit (max_value_bytes)", errs.ErrInvalidValue, len(v), maxValueBytes)
	}
	return nil
}
