//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package sqlite

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockWriter takes the store's writer lock: an exclusive flock on the file path+".lock", held
// until release is called (or the process ends, which releases it whatever the way it ended).
// It fails with ErrInUse when another Store, in this process or another, holds it.
func lockWriter(path string) (release func() error, err error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
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
