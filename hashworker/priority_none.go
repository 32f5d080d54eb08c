//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package hashworker

import "syscall"

// lowerPriority does nothing where there are no nice values to set.
func lowerPriority(int, bool) error { return nil }

// procAttr: the worker ends when its input closes.
func procAttr() *syscall.SysProcAttr { return nil }
