package hashworker

import (
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// lowerPriority sets the nice value of every thread of the process. Linux keeps a nice value
// per thread, and a new thread takes its creator's: once every thread has it, so do the
// threads the Go runtime makes later. The list is read again until a pass finds no new thread.
func lowerPriority(nice int) error {
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
			if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil && err != syscall.ESRCH {
				return fmt.Errorf("setpriority of thread %d: %w", tid, err)
			}
			done[tid], changed = true, true
		}
		if !changed {
			return nil
		}
	}
}

// procAttr makes the worker die with the server.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
