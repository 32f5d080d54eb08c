package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
)

// ownerOnly gives the store's files (the database, its WAL, its shared-memory index and the
// writer lock) mode 0600: they hold password hashes, emails and addresses. A database that
// does not exist yet is first created empty with that mode; SQLite gives the WAL and
// shared-memory files it creates the database's own mode (whatever the umask), so they are
// 0600 too. It returns the existing files whose group or others' permissions it took away.
func ownerOnly(path string) (tightened []string, err error) {
	if runtime.GOOS == "windows" {
		return nil, nil // permission bits do not apply
	}
	// Only a file that does not exist yet is opened (and closed): closing a descriptor of a file
	// this process's SQLite connections hold would drop their locks (see lockWriter).
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		f.Close()
	case !errors.Is(err, fs.ErrExist):
		return nil, fmt.Errorf("sqlite open %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + ".lock"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("sqlite open %s: %w", path, err)
		}
		if fi.Mode().Perm() == 0o600 {
			continue
		}
		if err := os.Chmod(p, 0o600); err != nil {
			return nil, fmt.Errorf("sqlite open %s: make %s owner-only: %w", path, p, err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			tightened = append(tightened, p)
		}
	}
	return tightened, nil
}

// Tightened lists the store's files that Open found readable or writable by others than
// their owner and made owner-only (mode 0600), for the caller to log.
func (s *Store) Tightened() []string { return s.tightened }
