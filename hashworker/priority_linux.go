package hashworker

import (
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// lowerPriority sets the nice value of every thread of the process, and with idle the
// SCHED_IDLE policy too. Linux keeps both per thread, and a new thread takes its creator's:
// once every thread has them, so do the threads the Go runtime makes later. The list is read
// again until a pass finds no new thread.
//
// Why SCHED_IDLE: under the kernel's fair scheduler a nice-19 thread that holds the core may
// keep it until its time slice ends when a server thread wakes up (a push waits behind an
// argon2id check, on a machine of one core); a SCHED_IDLE thread is preempted by any other
// thread at its wake-up. A thread may always move itself to SCHED_IDLE, no privilege needed.
func lowerPriority(nice int, idle bool) error {
	done := map[int]bool{}
	for {
		entries, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		changed := false
		for _, e := range entries {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || done[tid] {
				continue
			}
			if err := setThread(tid, nice, idle); err != nil && err != syscall.ESRCH {
				return err
			}
			done[tid], changed = true, true
		}
		if !changed {
			return nil
		}
	}
}

func setThread(tid, nice int, idle bool) error {
	if idle {
		// A kernel or sandbox without sched_setattr keeps the nice value alone, below; the
		// kernel keeps the nice value apart from the policy, so it is set either way.
		if err := unix.SchedSetAttr(tid, &unix.SchedAttr{Policy: unix.SCHED_IDLE}, 0); err == syscall.ESRCH {
			return err
		}
	}
	if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil {
		if err == syscall.ESRCH {
			return err
		}
		return fmt.Errorf("setpriority of thread %d: %w", tid, err)
	}
	return nil
}

// procAttr makes the worker die with the server.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
