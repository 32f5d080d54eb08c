//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"syscall"
)

// lockWriter takes the store's writer lock: an exclusive flock on the database file itself,
// held until release is called (or the process ends, which releases it whatever the way it
// ended). It fails with ErrInUse when another Store, in this process or another, holds it.
// The lock is on the file that holds the log, not on a file beside it, so that it cannot be
// sidestepped by deleting a lock file. SQLite's own locks are fcntl locks, which are
// independent of flock on the systems this file builds for. An absent file is created empty
// (owner-only), which SQLite takes as a new database; an existing one is not changed.
//
// The descriptor that carries the flock is never closed. Closing any descriptor of a file
// drops every fcntl lock the process holds on it, the locks of this process's SQLite
// connections included (SQLite's "POSIX advisory locks cancelled by close"), which would let
// another process delete the WAL under them. So the process keeps one descriptor per file it
// ever locked, and release only unlocks it.
func lockWriter(path string) (release func() error, err error) {
	lockFiles.mu.Lock()
	defer lockFiles.mu.Unlock()
	h, err := lockFiles.get(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite open %s: writer lock: %w", path, err)
	}
	if h.held {
		return nil, fmt.Errorf("sqlite open %s: %w", path, ErrInUse)
	}
	for {
		err = syscall.Flock(int(h.f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("sqlite open %s: %w", path, ErrInUse)
		}
		return nil, fmt.Errorf("sqlite open %s: writer lock: %w", path, err)
	}
	h.held = true
	return func() error {
		lockFiles.mu.Lock()
		defer lockFiles.mu.Unlock()
		h.held = false
		return syscall.Flock(int(h.f.Fd()), syscall.LOCK_UN)
	}, nil
}

// lockFiles holds the descriptors this process locks database files with, by file identity.
var lockFiles = lockRegistry{m: map[fileID]*lockedFile{}}

type lockRegistry struct {
	mu   sync.Mutex
	m    map[fileID]*lockedFile
	kept []*os.File // descriptors opened and not needed, kept open all the same
}

// fileID identifies a file whatever its name: a file replaced at the same path is another one.
type fileID struct{ dev, ino uint64 }

type lockedFile struct {
	f    *os.File
	held bool // by a Store of this process
}

// get returns the descriptor of the file at path, opening (or creating) it the first time.
// It never closes a descriptor of a file (see lockWriter). Registry lock held.
func (r *lockRegistry) get(path string) (*lockedFile, error) {
	if id, err := statID(path); err == nil {
		if h, ok := r.m[id]; ok {
			return h, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		r.kept = append(r.kept, f)
		return nil, err
	}
	id := fileID{uint64(st.Dev), uint64(st.Ino)}
	if h, ok := r.m[id]; ok {
		// The path now names a file already known (renamed there meanwhile): use its
		// descriptor, and keep this one open too.
		r.kept = append(r.kept, f)
		return h, nil
	}
	h := &lockedFile{f: f}
	r.m[id] = h
	return h, nil
}

func statID(path string) (fileID, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return fileID{}, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	return fileID{uint64(st.Dev), uint64(st.Ino)}, nil
}
