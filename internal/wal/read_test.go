package wal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// recBytes is the size of each record writeTestLog writes: a header and a
// 10-byte payload.
const recBytes = headerBytes + 10

// writeTestLog writes two segments of three records each, "record-0.0"
// to "record-1.2", and returns the dir and the records.
func writeTestLog(t testing.TB) (string, []record) {
	t.Helper()
	l := openLog(t, Options{SegmentBytes: 3 * recBytes})
	var want []record
	for i := range 6 {
		tk, err := l.Append(fmt.Appendf(nil, "record-%d.%d", i/3, i%3))
		if err == nil {
			err = l.Wait(context.Background(), tk)
		}
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, record{tk.Segment, fmt.Sprintf("record-%d.%d", i/3, i%3)})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if want[2].seg != 1 || want[3].seg != 2 {
		t.Fatalf("records went to segments %+v", want)
	}
	return l.opts.Dir, want
}

// TestReadCutsTornTails damages the tail of a segment in every way a crash
// or a bad disk can, and checks that Read reports it, keeps every record
// before it and those of the next segment, and cuts the file so that the
// next Read finds it whole.
func TestReadCutsTornTails(t *testing.T) {
	type tc struct {
		name    string
		segment uint64
		damage  func(b []byte) []byte // the segment's bytes, damaged
		lost    int                   // records of the segment lost: from its end
		torn    *Torn                 // nil: nothing torn
	}
	lastRec := int64(2 * recBytes) // offset of a segment's last record
	tests := []tc{
		{name: "intact", segment: 1, damage: func(b []byte) []byte { return b }},
		{name: "last record cut whole", segment: 1, lost: 1, damage: func(b []byte) []byte { return b[:lastRec] }},
	}
	for cut := 1; cut < recBytes; cut++ {
		reason := "partial payload"
		if recBytes-cut < headerBytes {
			reason = "partial length"
		}
		tests = append(tests, tc{
			name: fmt.Sprintf("last record short by %d", cut), segment: 2, lost: 1,
			damage: func(b []byte) []byte { return b[:len(b)-cut] },
			torn:   &Torn{Segment: 2, Offset: lastRec, Reason: reason},
		})
	}
	tests = append(tests, []tc{
		{name: "payload byte flipped", segment: 1, lost: 1,
			damage: func(b []byte) []byte { b[lastRec+headerBytes+3] ^= 0x40; return b },
			torn:   &Torn{Segment: 1, Offset: lastRec, Reason: "crc mismatch", Sealed: true}},
		{name: "crc byte flipped", segment: 1, lost: 1,
			damage: func(b []byte) []byte { b[lastRec+5] ^= 0x01; return b },
			torn:   &Torn{Segment: 1, Offset: lastRec, Reason: "crc mismatch", Sealed: true}},
		{name: "garbage length past the end", segment: 1, lost: 1,
			damage: func(b []byte) []byte { binary.LittleEndian.PutUint32(b[lastRec:], 0xfffffff0); return b },
			torn:   &Torn{Segment: 1, Offset: lastRec, Reason: "partial payload", Sealed: true}},
		{name: "garbage length within the file", segment: 1, lost: 1,
			damage: func(b []byte) []byte { binary.LittleEndian.PutUint32(b[lastRec:], 4); return b },
			torn:   &Torn{Segment: 1, Offset: lastRec, Reason: "crc mismatch", Sealed: true}},
		{name: "first record torn", segment: 1, lost: 3,
			damage: func(b []byte) []byte { b[headerBytes] ^= 0xff; return b },
			torn:   &Torn{Segment: 1, Offset: 0, Reason: "crc mismatch", Sealed: true}},
		{name: "zero-filled tail", segment: 2,
			damage: func(b []byte) []byte { return append(b, make([]byte, 4096)...) },
			torn:   &Torn{Segment: 2, Offset: 3 * recBytes, Reason: "zero length"}},
		{name: "partial header after the last record", segment: 2,
			damage: func(b []byte) []byte { return append(b, 1, 0, 0) },
			torn:   &Torn{Segment: 2, Offset: 3 * recBytes, Reason: "partial length"}},
	}...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, all := writeTestLog(t)
			path := filepath.Join(dir, segmentName(tc.segment))
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.damage(b), 0o644); err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(all)
			end := int(tc.segment) * 3 // index after the segment's records
			want = slices.Delete(want, end-tc.lost, end)

			got, torn := readAll(t, dir)
			if !slices.Equal(got, want) {
				t.Fatalf("read %+v, want %+v", got, want)
			}
			wantTorn := []Torn(nil)
			if tc.torn != nil {
				wantTorn = []Torn{*tc.torn}
				// The tail of the log is cut; damage in a sealed segment is
				// corruption, kept for a person to look at.
				if size := fileSize(t, path); !tc.torn.Sealed && size != tc.torn.Offset {
					t.Errorf("segment is %d bytes, want cut at %d", size, tc.torn.Offset)
				}
				if size := fileSize(t, path); tc.torn.Sealed && size <= tc.torn.Offset {
					t.Errorf("a sealed segment was cut to %d bytes", size)
				}
			}
			if !slices.Equal(torn, wantTorn) {
				t.Fatalf("torn %+v, want %+v", torn, wantTorn)
			}

			got, torn = readAll(t, dir)
			if tc.torn != nil && tc.torn.Sealed {
				if !slices.Equal(torn, wantTorn) || !slices.Equal(got, want) {
					t.Fatalf("second Read of a corrupt sealed segment: %+v torn %+v", got, torn)
				}
				return
			}
			if len(torn) > 0 || !slices.Equal(got, want) {
				t.Fatalf("second Read: %+v torn %+v", got, torn)
			}
		})
	}
}

// TestReadEdges checks Read's handling of dirs and of its callback.
func TestReadEdges(t *testing.T) {
	errStop := errors.New("stop")
	tests := []struct {
		name  string
		dir   func(t *testing.T) string
		stop  int // fn fails at this record (1-based); 0: never
		want  error
		count int
	}{
		{name: "missing dir", dir: func(t *testing.T) string { return filepath.Join(t.TempDir(), "none") }},
		{name: "empty dir", dir: func(t *testing.T) string { return t.TempDir() }},
		{name: "other files ignored", count: 6, dir: func(t *testing.T) string {
			dir, _ := writeTestLog(t)
			for _, name := range []string{"notes.txt", "1.wal", "000000000000000x.wal", "0000000000000000.wal"} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			return dir
		}},
		{name: "callback error stops", stop: 4, want: errStop, count: 4, dir: func(t *testing.T) string {
			dir, _ := writeTestLog(t)
			return dir
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			count := 0
			torn, err := Read(tc.dir(t), func(uint64, []byte) error {
				count++
				if count == tc.stop {
					return errStop
				}
				return nil
			})
			if err != tc.want { // returned as is
				t.Fatalf("Read: %v, want %v", err, tc.want)
			}
			if count != tc.count || len(torn) > 0 {
				t.Fatalf("Read called fn %d times (want %d), torn %+v", count, tc.count, torn)
			}
		})
	}
}

// encode frames payloads as the writer does.
func encode(payloads ...[]byte) []byte {
	var b []byte
	for _, p := range payloads {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = binary.LittleEndian.AppendUint32(b, checksum(p))
		b = append(b, p...)
	}
	return b
}

// FuzzRead reads arbitrary bytes as a segment: Read must not fail, the
// records it returns must be exactly the file's bytes once cut, and a
// second Read must find the same with nothing torn.
func FuzzRead(f *testing.F) {
	whole := encode([]byte("a"), []byte("hello"), bytes.Repeat([]byte{7}, 300))
	f.Add(whole)
	f.Add(whole[:len(whole)-1])
	f.Add(whole[:11])
	f.Add(append(slices.Clone(whole), 0, 0, 0, 0, 0, 0, 0, 0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, segmentName(1))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var recs [][]byte
		torn, err := Read(dir, func(_ uint64, rec []byte) error {
			recs = append(recs, slices.Clone(rec))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		cut, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(encode(recs...), cut) || !bytes.HasPrefix(data, cut) {
			t.Fatalf("records %q do not make the cut file %q", recs, cut)
		}
		if (len(torn) > 0) != (len(cut) < len(data)) {
			t.Fatalf("torn %+v, file cut from %d to %d bytes", torn, len(data), len(cut))
		}
		again, torn := readAll(t, dir)
		if len(torn) > 0 || len(again) != len(recs) {
			t.Fatalf("second Read: %d records (want %d), torn %+v", len(again), len(recs), torn)
		}
	})
}
