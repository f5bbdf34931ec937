package node

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hoard-dev/hoard/ring"
)

// dumpLine is one cache entry in a dump file (JSON Lines; the value is
// base64, as encoding/json writes bytes).
type dumpLine struct {
	Key    string    `json:"key"`
	Value  []byte    `json:"value"`
	Loaded time.Time `json:"loaded"`
}

func (s *store) dumpPath() string {
	return filepath.Join(s.n.cfg.DataDir, "cache", s.cfg.Name+".dump")
}

// writeDump writes the store's entries atomically: a temp file, fsync,
// rename over the previous dump, fsync of the directory.
func (s *store) writeDump() error {
	path := s.dumpPath()
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-"+s.cfg.Name+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename this fails harmlessly
	w := bufio.NewWriterSize(tmp, 64<<10)
	enc := json.NewEncoder(w)
	entries := s.caches.list()
	for _, e := range entries {
		if err := enc.Encode(dumpLine{Key: e.Key, Value: e.Entry.value, Loaded: time.Unix(0, e.Entry.loaded)}); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := errors.Join(w.Flush(), tmp.Sync(), tmp.Close()); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	s.logger.Debug("cache dumped", "entries", len(entries), "path", path)
	return syncDir(dir)
}

// loadDump fills the store from its dump file, if there is one, each entry
// keeping its age for the TTL. Entries this node turns out not to own are
// dropped when the ring says so. A
// missing dump is normal; a corrupt one is logged, keeping what was read
// before the damage, and start-up goes on.
func (s *store) loadDump() {
	path := s.dumpPath()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		s.logger.Error("cannot read the cache dump; starting empty", "path", path, "error", err)
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 2*s.n.cfg.MaxValueBytes+64<<10)
	loaded := 0
	for sc.Scan() {
		var l dumpLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || checkKey(s.cfg.Name, l.Key) != nil {
			s.logger.Error("cache dump is corrupt; keeping the entries read before the damage",
				"path", path, "line", loaded+1, "error", fmt.Sprint(err))
			break
		}
		if s.caches.restore(ring.PartitionOf(s.n.cfg.Ring.Partitions, s.cfg.Name, l.Key), l.Key, l.Value, l.Loaded) {
			loaded++
		}
	}
	if err := sc.Err(); err != nil {
		s.logger.Error("cache dump is corrupt; keeping the entries read before the damage", "path", path, "error", err)
	}
	s.logger.Info("cache loaded from its dump", "entries", loaded, "path", path)
}
