package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// maxBodyDepth bounds the nesting of arrays and maps in a body. Bodies are
// ops and replies, a few levels deep; the bound keeps the decoder's recursion
// short.
const maxBodyDepth = 64

var (
	errTruncated = errors.New("value truncated")
	errTrailing  = errors.New("bytes after the value")
	errTooDeep   = fmt.Errorf("nested deeper than %d", maxBodyDepth)
)

// checkBody reports whether b holds exactly one complete msgpack value,
// nested at most maxBodyDepth deep. It runs before msgpack decodes a body
// because the decoder trusts declared lengths: it allocates a []any of the
// declared length before reading any element, so a 5-byte array32 header
// would make it allocate 32 GiB. Once every declared element is known to be
// present, what the decoder allocates is bounded by the size of the body.
// It reads b once and allocates nothing.
func checkBody(b []byte) error {
	var todo [maxBodyDepth + 1]uint64 // values still to read at each level
	top := 0
	todo[0] = 1
	p := 0
	for {
		for todo[top] == 0 {
			if top == 0 {
				if p != len(b) {
					return fmt.Errorf("%w: %d", errTrailing, len(b)-p)
				}
				return nil
			}
			top--
		}
		todo[top]--
		if p >= len(b) {
			return errTruncated
		}
		c := b[p]
		p++
		var skip uint64  // bytes of payload after the type byte
		var elems uint64 // values the container holds
		var err error
		switch {
		case c <= 0x7f || c >= 0xe0: // fixint
		case c <= 0x8f: // fixmap
			elems = 2 * uint64(c&0x0f)
		case c <= 0x9f: // fixarray
			elems = uint64(c & 0x0f)
		case c <= 0xbf: // fixstr
			skip = uint64(c & 0x1f)
		default:
			switch c {
			case 0xc0, 0xc2, 0xc3: // nil, false, true
			case 0xc4, 0xd9: // bin8, str8
				skip, p, err = readLen(b, p, 1)
			case 0xc5, 0xda: // bin16, str16
				skip, p, err = readLen(b, p, 2)
			case 0xc6, 0xdb: // bin32, str32
				skip, p, err = readLen(b, p, 4)
			case 0xc7: // ext8: length, then type and data
				skip, p, err = readLen(b, p, 1)
				skip++
			case 0xc8: // ext16
				skip, p, err = readLen(b, p, 2)
				skip++
			case 0xc9: // ext32
				skip, p, err = readLen(b, p, 4)
				skip++
			case 0xcc, 0xd0: // uint8, int8
				skip = 1
			case 0xcd, 0xd1: // uint16, int16
				skip = 2
			case 0xca, 0xce, 0xd2: // float32, uint32, int32
				skip = 4
			case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
				skip = 8
			case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16: type and data
				skip = 1 + 1<<(c-0xd4)
			case 0xdc: // array16
				elems, p, err = readLen(b, p, 2)
			case 0xdd: // array32
				elems, p, err = readLen(b, p, 4)
			case 0xde: // map16
				elems, p, err = readLen(b, p, 2)
				elems *= 2
			case 0xdf: // map32
				elems, p, err = readLen(b, p, 4)
				elems *= 2
			default: // 0xc1 is never used
				return fmt.Errorf("invalid type byte 0x%02x", c)
			}
		}
		if err != nil {
			return err
		}
		left := uint64(len(b) - p)
		if skip > left {
			return errTruncated
		}
		p += int(skip)
		if elems > 0 {
			// Every value takes at least one byte.
			if elems > left {
				return errTruncated
			}
			if top == maxBodyDepth {
				return errTooDeep
			}
			top++
			todo[top] = elems
		}
	}
}

// readLen reads a big-endian length of size bytes at b[p:].
func readLen(b []byte, p, size int) (uint64, int, error) {
	if len(b)-p < size {
		return 0, p, errTruncated
	}
	switch size {
	case 1:
		return uint64(b[p]), p + 1, nil
	case 2:
		return uint64(binary.BigEndian.Uint16(b[p:])), p + 2, nil
	default:
		return uint64(binary.BigEndian.Uint32(b[p:])), p + 4, nil
	}
}
