//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package sqlite

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockWriter takes the store's writer lock: an exclusive flock on the database file itself,
// held until release is called (or the process ends, which releases it whatever the way it
// ended). It fails with ErrInUse when another Store, in this process or another, holds it.
// The lock is on the file that holds the log, not on a file beside it, so that it cannot be
// sidestepped by deleting a lock file. SQLite's own locks are fcntl locks, which are
// independent of flock on the systems this file builds for, so the two do not interfere.
// Opening the file changes nothing in it; an absent file is created empty, which SQLite
// takes as a new database.
func lockWriter(path string) (release func() error, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite open %s: writer lock: %w", path, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("sqlite open %s: %w", path, ErrInUse)
		}
		return nil, fmt.Errorf("sqlite open %s: writer lock: %w", path, err)
	}
	return f.Close, nil
}
