// Package disk makes file writes durable: a file replaced atomically, so
// that a crash leaves the old content or the new, never a mix, and a
// directory fsynced, so that the names created, renamed or removed in it
// survive a power loss. It is a leaf: it imports only the standard library.
//
//	err := disk.WriteAtomic(path, func(w io.Writer) error {
//		_, err := w.Write(data)
//		return err
//	})
//	...
//	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
//	...
//	err = disk.SyncDir(dir) // name's entry is on disk
package disk
