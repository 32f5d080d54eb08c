//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package hashworker

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// lowerPriority sets the process's nice value (outside Linux, nice values are per process;
// SCHED_IDLE is Linux's, so idle adds nothing here).
func lowerPriority(nice int, _ bool) error { return unix.Setpriority(unix.PRIO_PROCESS, 0, nice) }

// procAttr: outside Linux the worker ends when its input closes.
func procAttr() *syscall.SysProcAttr { return nil }
