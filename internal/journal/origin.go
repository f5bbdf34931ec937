package journal

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/hoard-dev/hoard/internal/flush"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"

	"github.com/hoard-dev/hoard/sinks"
)

// incarnationFile holds the node's last incarnation number in its data
// directory.
const incarnationFile = "incarnation"

// NextOrigin returns the origin of a new incarnation of the node name
// keeping its files in dataDir: "name.N.ID", N one more than the last
// start's and ID random, drawn when the data directory was first used, so
// that a node started again on a wiped directory never reuses an origin
// whose ops a sink has recorded. It is persisted (written, fsynced,
// renamed) before it is returned.
func NextOrigin(dataDir, name string) (string, error) {
	path := filepath.Join(dataDir, incarnationFile)
	var last uint64
	var id string
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		var b [4]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	case err != nil:
		return "", fmt.Errorf("journal: %w", err)
	default:
		f := strings.Fields(string(data))
		if len(f) == 2 {
			id = f[0]
			last, err = strconv.ParseUint(f[1], 10, 64)
		}
		if len(f) != 2 || err != nil || id == "" {
			return "", fmt.Errorf("journal: %s is corrupt: want an ID and a number, got %q", path, data)
		}
	}
	tmp := path + ".tmp"
	if err := writeSynced(tmp, []byte(fmt.Sprintf("%s %d\n", id, last+1))); err != nil {
		return "", fmt.Errorf("journal: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("journal: %w", err)
	}
	if err := flush.SyncDir(dataDir); err != nil {
		return "", fmt.Errorf("journal: %w", err)
	}
	return fmt.Sprintf("%s.%d.%s", name, last+1, id), nil
}

func writeSynced(path string, data []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	return errors.Join(werr, f.Sync(), f.Close())
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
