package hashworker

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/assent-dev/assent/secrets"
)

// ErrUnavailable is returned by Key when the worker could not compute the key: it died twice
// while computing it, or could not be started.
var ErrUnavailable = errors.New("hashworker: the password worker is unavailable")

// Config says how to start the worker.
type Config struct {
	// Executable is the program to run as the worker; it must call Main when IsWorker says so.
	// Default: this process's own executable.
	Executable string
	// Nice is the worker's nice value, 0 to 19 (19 the lowest priority). Default 0 keeps the
	// server's; Assent's serve sets 19.
	Nice int
	// Idle runs the worker's threads under Linux's SCHED_IDLE policy as well: a thread of
	// another process that wakes up takes the core from them at once, where a nice value only
	// gives the worker a smaller share of it and may let it finish its time slice first.
	// Elsewhere it does nothing beyond Nice. Assent's serve sets it.
	Idle bool
	// Log receives the worker's exits and restarts. Default: discarded.
	Log *slog.Logger
}

// Pool hands key derivations to the worker process, restarting it when it dies. Key is safe
// for concurrent use; the caller bounds how many keys are asked at once (the worker computes
// every request it has at once).
type Pool struct {
	cfg Config

	mu      sync.Mutex
	w       *worker // nil until the first Key, and after the worker died
	nextID  uint64
	closed  bool
	started time.Time // when the current worker started, to slow down restarts of a crashing one
}

// worker is one run of the worker process.
type worker struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	enc     *gob.Encoder
	pending map[uint64]chan response
	dead    chan struct{} // closed once the process is gone and pending is failed
}

// New returns a pool that starts the worker at its first Key.
func New(cfg Config) (*Pool, error) {
	if cfg.Nice < 0 || cfg.Nice > 19 {
		return nil, fmt.Errorf("hashworker: option 'nice' must be between 0 and 19 but it's configured as '%d'", cfg.Nice)
	}
	if cfg.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("hashworker: find this program: %w", err)
		}
		cfg.Executable = exe
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Pool{cfg: cfg}, nil
}

// Key derives the argon2id key of password with salt and p's memory, iterations, parallelism
// and key length, in the worker. It matches secrets.KeyFunc. When the worker dies while
// computing it, the key is asked again of the restarted worker, once.
func (p *Pool) Key(ctx context.Context, password, salt []byte, params secrets.Argon2Params) ([]byte, error) {
	req := request{Password: password, Salt: salt, Memory: params.Memory, Iterations: params.Iterations,
		Threads: params.Parallelism, KeyLength: params.KeyLength}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var lastErr error
	for range 2 {
		w, ch, err := p.send(&req)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		select {
		case res, ok := <-ch:
			if !ok {
				lastErr = errors.New("the worker ended while computing the key")
				continue
			}
			if res.Err != "" {
				return nil, fmt.Errorf("hashworker: %s", res.Err)
			}
			return res.Key, nil
		case <-ctx.Done():
			p.mu.Lock()
			delete(w.pending, req.ID)
			p.mu.Unlock()
			return nil, ctx.Err()
		}
	}
	return nil, fmt.Errorf("%w: %w", ErrUnavailable, lastErr)
}

// send writes the request to the worker, starting it if none runs, and returns the channel
// of its answer, which is closed when the worker dies first.
func (p *Pool) send(req *request) (*worker, chan response, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, nil, errors.New("the pool is closed")
	}
	if p.w == nil {
		if err := p.start(); err != nil {
			return nil, nil, err
		}
	}
	w := p.w
	p.nextID++
	req.ID = p.nextID
	ch := make(chan response, 1)
	w.pending[req.ID] = ch
	if err := w.enc.Encode(req); err != nil {
		delete(w.pending, req.ID)
		w.cmd.Process.Kill() // its reader sees the end and fails the others
		return nil, nil, fmt.Errorf("send a request: %w", err)
	}
	return w, ch, nil
}

// start runs a new worker. p.mu is held. A worker that died within a second of its start is
// restarted no sooner than a second after it started, so that a worker that cannot run does
// not make the server spin.
func (p *Pool) start() error {
	if wait := time.Second - time.Since(p.started); !p.started.IsZero() && wait > 0 {
		time.Sleep(wait)
	}
	p.started = time.Now()
	cmd := exec.Command(p.cfg.Executable)
	cmd.Env = append(os.Environ(), EnvWorker+"="+workerValue(p.cfg.Nice, p.cfg.Idle))
	cmd.SysProcAttr = procAttr()
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the worker: %w", err)
	}
	w := &worker{cmd: cmd, stdin: stdin, enc: gob.NewEncoder(stdin), pending: map[uint64]chan response{}, dead: make(chan struct{})}
	p.w = w
	p.cfg.Log.Debug("password worker started", "pid", cmd.Process.Pid, "nice", p.cfg.Nice, "idle", p.cfg.Idle)
	go p.read(w, stdout)
	return nil
}

// read hands the worker's answers to their callers until it ends; then it fails the requests
// still pending, so that they are asked again of a new worker.
func (p *Pool) read(w *worker, stdout io.Reader) {
	dec := gob.NewDecoder(stdout)
	for {
		var res response
		if err := dec.Decode(&res); err != nil {
			break
		}
		p.mu.Lock()
		ch := w.pending[res.ID]
		delete(w.pending, res.ID)
		p.mu.Unlock()
		if ch != nil {
			ch <- res
		}
	}
	w.cmd.Process.Kill()
	err := w.cmd.Wait()
	p.mu.Lock()
	if p.w == w {
		p.w = nil
	}
	closed := p.closed
	for id, ch := range w.pending {
		close(ch)
		delete(w.pending, id)
	}
	p.mu.Unlock()
	if !closed {
		p.cfg.Log.Warn("password worker ended; the next check starts another", "err", err)
	}
	close(w.dead)
}

// Close stops the worker and waits for it to end; a Key after Close fails.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	w := p.w
	p.mu.Unlock()
	if w == nil {
		return nil
	}
	w.stdin.Close()
	select {
	case <-w.dead:
	case <-time.After(5 * time.Second):
		w.cmd.Process.Kill()
		<-w.dead
	}
	return nil
}

// PID returns the process ID of the running worker, or 0 when none runs.
func (p *Pool) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w == nil {
		return 0
	}
	return p.w.cmd.Process.Pid
}
