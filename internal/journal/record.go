package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/ring"
)

// recordVersion starts every record; a reader refuses others.
const recordVersion = 1

// Recorded is an op read back from a log, with its position.
type Recorded struct {
	op.Op
	Partition int
	Seq       uint64
}

var errBadRecord = errors.New("journal: malformed record")

// KindTrim marks a record that is no op: a backup's note that the owner's
// sink has its ops of the partition up to Seq (see AppendTrim). ReadOrigin
// drops them and the ops they cover.
const KindTrim op.Kind = 255

// AppendTrim encodes onto b a note that store's ops of partition p up to
// seq are delivered.
func AppendTrim(b []byte, store string, p int, seq uint64) []byte {
	b = append(b, recordVersion, byte(KindTrim))
	b = appendString(b, store)
	b = binary.AppendUvarint(b, uint64(p))
	return binary.AppendUvarint(b, seq)
}

// AppendRecord encodes o, the op numbered seq in partition p, onto b: a
// write-ahead log record, also what an owner sends its backups.
func AppendRecord(b []byte, o *op.Op, p int, seq uint64) []byte {
	b = slices.Grow(b, recordSize(o))
	b = append(b, recordVersion, byte(o.Kind))
	b = appendString(b, o.Store)
	b = binary.AppendUvarint(b, uint64(p))
	b = binary.AppendUvarint(b, seq)
	b = appendString(b, o.Key)
	switch o.Kind {
	case op.Incr:
		b = binary.AppendVarint(b, o.Delta)
	default:
		b = binary.AppendUvarint(b, uint64(len(o.Values)))
		for _, v := range o.Values {
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		}
	}
	return b
}

// recordSize bounds the bytes AppendRecord writes for o.
func recordSize(o *op.Op) int {
	n := 2 + 4*binary.MaxVarintLen64 + len(o.Store) + len(o.Key)
	for _, v := range o.Values {
		n += binary.MaxVarintLen64 + len(v)
	}
	return n
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// PeekRecord reads the position of a record without decoding it: its
// store's name (a slice of b), partition and seq. Errors: a malformed
// record.
func PeekRecord(b []byte) (store []byte, p int, seq uint64, err error) {
	_, d, err := header(b)
	if err != nil {
		return nil, 0, 0, err
	}
	store = d.bytes()
	p = d.partition()
	seq = d.uvarint()
	if d.err != nil {
		return nil, 0, 0, fmt.Errorf("%w: %v", errBadRecord, d.err)
	}
	return store, p, seq, nil
}

// header checks a record's version and kind and returns a decoder of the
// rest.
func header(b []byte) (op.Kind, decoder, error) {
	if len(b) < 2 || b[0] != recordVersion {
		return 0, decoder{}, fmt.Errorf("%w: version or length", errBadRecord)
	}
	k := op.Kind(b[1])
	if k != op.Incr && k != op.Insert && k != KindTrim {
		return 0, decoder{}, fmt.Errorf("%w: op kind %d", errBadRecord, b[1])
	}
	return k, decoder{b: b[2:]}, nil
}

// DecodeRecord decodes a record; the values are copied out of b. Errors:
// a malformed record.
func DecodeRecord(b []byte) (Recorded, error) {
	var r Recorded
	kind, d, err := header(b)
	if err != nil {
		return r, err
	}
	r.Kind = kind
	r.Store = d.string()
	r.Partition = d.partition()
	r.Seq = d.uvarint()
	if r.Kind == KindTrim {
		if d.err != nil || len(d.b) != 0 {
			return r, fmt.Errorf("%w: trim: %v, %d bytes left", errBadRecord, d.err, len(d.b))
		}
		return r, nil
	}
	r.Key = d.string()
	if r.Kind == op.Incr {
		r.Delta = d.varint()
	} else {
		n := d.uvarint()
		if n > uint64(len(d.b)) {
			return r, fmt.Errorf("%w: %d values", errBadRecord, n)
		}
		r.Values = make([][]byte, 0, n)
		for range n {
			r.Values = append(r.Values, bytes.Clone(d.bytes()))
		}
	}
	if d.err != nil || len(d.b) != 0 {
		return r, fmt.Errorf("%w: %v, %d bytes left", errBadRecord, d.err, len(d.b))
	}
	return r, nil
}

// decoder reads varints and strings, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// partition reads a partition number, which the ring bounds.
func (d *decoder) partition() int {
	v := d.uvarint()
	if v >= ring.MaxPartitions {
		if d.err == nil {
			d.err = fmt.Errorf("partition %d out of range", v)
		}
		d.b = nil
		return 0
	}
	return int(v)
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bytes reads a length-prefixed run of bytes: a slice of the record.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	b := d.b[:n:n]
	d.b = d.b[n:]
	return b
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errors.New("truncated")
	}
	d.b = nil
}
