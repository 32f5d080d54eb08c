package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
)

// ownerOnlyDataDir creates the data directory with mode 0700, or takes the group's and
// others' permissions away from an existing one, saying so: it holds the keys and the store.
func ownerOnlyDataDir(dir string, log *slog.Logger) error {
	fi, err := os.Stat(dir)
	switch {
	case os.IsNotExist(err):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create data directory: %w", err)
		}
		// MkdirAll's mode passes through the umask; the directory is exactly 0700 whatever it is.
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("create data directory: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("data directory: %w", err)
	}
	if runtime.GOOS == "windows" {
		return nil // permission bits do not apply
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		if err := os.Chmod(dir, perm&0o700); err != nil {
			return fmt.Errorf("data directory %s: take away the group's and others' access (mode %#o): %w", dir, perm, err)
		}
		log.Warn("data directory was readable by others: its mode is now owner-only", "path", dir, "was", fmt.Sprintf("%#o", perm), "now", fmt.Sprintf("%#o", perm&0o700))
	}
	return nil
}
