// Package hashworker computes argon2id password keys in a separate process of low priority,
// so that their CPU time and their memory (19 MiB a key with the default parameters) stay out
// of the server's process: its sockets and its collector do not wait behind a password check.
//
// The server starts the worker by running its own executable again with ASSENT_PASSWORD_WORKER
// set (Main is the worker's whole program) and talks to it over the worker's standard input and
// output. The worker lowers the priority of every thread it has, and of those it will make, to
// the nice value it is given, and ends when its input closes or when the server dies.
package hashworker

import (
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"

	"github.com/assent-dev/assent/secrets"
)

// EnvWorker, set in the environment of a process, makes it the worker: its value is the nice
// value to run at, followed by ",idle" for the SCHED_IDLE policy (Config.Idle). A program that may be started as the worker calls Main first thing when
// IsWorker says so.
const EnvWorker = "ASSENT_PASSWORD_WORKER"

// IsWorker reports whether this process was started as the worker.
func IsWorker() bool { return os.Getenv(EnvWorker) != "" }

// request asks for one key; response answers it, by ID. Err is a sentence without the
// password or the salt.
type request struct {
	ID         uint64
	Password   []byte
	Salt       []byte
	Memory     uint32
	Iterations uint32
	Threads    uint8
	KeyLength  uint32
}

type response struct {
	ID  uint64
	Key []byte
	Err string
}

// Main runs the worker on standard input and output and returns its exit code.
func Main() int {
	nice, idle, err := parseWorkerValue(os.Getenv(EnvWorker))
	if err != nil {
		fmt.Fprintf(os.Stderr, "hashworker: %v\n", err)
		return 2
	}
	if err := lowerPriority(nice, idle); err != nil {
		// Not fatal: the keys are still right, only the server's share of the core is smaller.
		fmt.Fprintf(os.Stderr, "hashworker: lower the priority: %v\n", err)
	}
	if err := Serve(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "hashworker: %v\n", err)
		return 1
	}
	return 0
}

// workerValue is EnvWorker's value for a nice value and the idle policy.
func workerValue(nice int, idle bool) string {
	v := strconv.Itoa(nice)
	if idle {
		v += ",idle"
	}
	return v
}

// parseWorkerValue reads EnvWorker's value.
func parseWorkerValue(v string) (nice int, idle bool, err error) {
	n, rest, _ := strings.Cut(v, ",")
	nice, err = strconv.Atoi(n)
	if err != nil || nice < 0 || nice > 19 || (rest != "" && rest != "idle") {
		return 0, false, fmt.Errorf("%s must be a nice value between 0 and 19, optionally followed by ',idle', but it's '%s'", EnvWorker, v)
	}
	return nice, rest == "idle", nil
}

// Serve answers requests read from r on w until r ends, each on a goroutine of its own (the
// server bounds how many it sends at once).
func Serve(r io.Reader, w io.Writer) error {
	dec := gob.NewDecoder(r)
	enc := gob.NewEncoder(w)
	var mu sync.Mutex
	var wg sync.WaitGroup
	defer wg.Wait()
	var failed error
	for {
		var req request
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read a request: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := response{ID: req.ID}
			res.Key, res.Err = derive(req)
			mu.Lock()
			defer mu.Unlock()
			if failed == nil {
				failed = enc.Encode(res)
			}
		}()
	}
}

// derive computes a key within the bounds a stored hash may have.
func derive(req request) ([]byte, string) {
	p := secrets.Argon2Params{Memory: req.Memory, Iterations: req.Iterations, Parallelism: req.Threads,
		SaltLength: uint32(len(req.Salt)), KeyLength: req.KeyLength}
	if err := p.Validate(); err != nil || len(req.Password) > secrets.MaxPasswordLen {
		return nil, "the parameters are out of bounds"
	}
	return argon2.IDKey(req.Password, req.Salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength), ""
}
