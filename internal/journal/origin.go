package journal

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"

	"github.com/hoard-dev/hoard/internal/disk"
	"github.com/hoard-dev/hoard/sinks"
)

// incarnationFile holds the node's last incarnation number in its data
// directory.
const incarnationFile = "incarnation"

// NextOrigin returns the origin of a new incarnation of the node name
// keeping its files in dataDir: "name.N.R", N one more than the last
// start's (persisted: written, fsynced, renamed, before it is returned) and
// R drawn at random at each start, so that a node started on a wiped or
// restored data directory never reuses an origin whose ops a sink has
// recorded.
func NextOrigin(dataDir, name string) (string, error) {
	path := filepath.Join(dataDir, incarnationFile)
	var last uint64
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return "", fmt.Errorf("journal: %w", err)
	default:
		if last, err = strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64); err != nil {
			return "", fmt.Errorf("journal: %s is corrupt: want a number, got %q", path, data)
		}
	}
	if err := disk.WriteAtomic(path, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "%d\n", last+1)
		return err
	}); err != nil {
		return "", fmt.Errorf("journal: %w", err)
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%s.%d.%s", name, last+1, hex.EncodeToString(r[:])), nil
}

// BatchID is the ID of the batch of store holding ranges of origin's ops:
// the same ops always make the same ID, whoever delivers them.
func BatchID(origin, store string, ranges []sinks.Range) string {
	h := xxhash.New()
	_, _ = h.WriteString(store)
	var b [24]byte
	for _, r := range ranges {
		binary.LittleEndian.PutUint64(b[0:], uint64(r.Partition))
		binary.LittleEndian.PutUint64(b[8:], r.First)
		binary.LittleEndian.PutUint64(b[16:], r.Last)
		_, _ = h.Write(b[:])
	}
	return fmt.Sprintf("%s.%016x", origin, h.Sum64())
}

// NodeOf is the node name of an origin ("name.N.R", see NextOrigin).
func NodeOf(origin string) string {
	f := strings.Split(origin, ".")
	if len(f) < 3 {
		return origin
	}
	return strings.Join(f[:len(f)-2], ".")
}

// incarnation is an origin's incarnation number ("name.N.ID"), 0 if none.
func incarnation(origin string) uint64 {
	f := strings.Split(origin, ".")
	if len(f) < 3 {
		return 0
	}
	n, _ := strconv.ParseUint(f[len(f)-2], 10, 64)
	return n
}
