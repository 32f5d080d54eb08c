package push

import (
	"context"
	"errors"

	"github.com/assent-dev/assent/transport/push/wire"
)

// ErrShuttingDown is the cause of a stream's context ended by Shutdown.
var ErrShuttingDown = errors.New("push: server shutting down")

// admit counts a new device socket from addr against the caps before it is accepted. It
// returns false and the close to tell the socket when a cap is reached or the node stops;
// otherwise the caller must call leave when the socket ends.
func (h *Hub) admit(addr string) (bool, wire.Close) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.stopped:
		return false, wire.CloseShuttingDown
	case h.perAddr[addr] >= h.opts.MaxPerAddress:
		return false, wire.CloseTooManyFromAddress
	case h.waiting >= h.opts.MaxWaiting, h.waitingFrom[addr] >= h.opts.MaxWaitingPerAddress:
		return false, wire.CloseTooManyWaiting
	}
	h.perAddr[addr]++
	h.waiting++
	h.waitingFrom[addr]++
	h.active.Add(1)
	return true, wire.Close{}
}

// authenticated moves an admitted socket out of the waiting counts.
func (h *Hub) authenticated(addr string) {
	h.mu.Lock()
	h.unwait(addr)
	h.mu.Unlock()
}

func (h *Hub) unwait(addr string) {
	h.waiting--
	if h.waitingFrom[addr]--; h.waitingFrom[addr] <= 0 {
		delete(h.waitingFrom, addr)
	}
}

// leave releases what admit counted; waiting tells whether the socket never authenticated.
func (h *Hub) leave(addr string, waiting bool) {
	h.mu.Lock()
	if h.perAddr[addr]--; h.perAddr[addr] <= 0 {
		delete(h.perAddr, addr)
	}
	if waiting {
		h.unwait(addr)
	}
	h.mu.Unlock()
	h.active.Done()
}

// Stream registers a page's stream (a long-poll, an SSE stream, a login socket) for the
// node's shutdown. The returned context ends when ctx does or when Shutdown starts, then with
// the cause ErrShuttingDown; the stream must then end with a proper ending (a long-poll
// answers, an SSE stream ends, a socket closes with wire.CloseShuttingDown) and call release.
func (h *Hub) Stream(ctx context.Context) (_ context.Context, release func()) {
	sctx, cancel := context.WithCancelCause(ctx)
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		cancel(ErrShuttingDown)
		return sctx, func() {}
	}
	h.active.Add(1)
	h.mu.Unlock()
	unhook := context.AfterFunc(h.stopping, func() { cancel(ErrShuttingDown) })
	return sctx, func() {
		unhook()
		cancel(context.Canceled)
		h.active.Done()
	}
}

// ShuttingDown reports whether a context of Stream ended because the node shuts down.
func ShuttingDown(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), ErrShuttingDown)
}

// Shutdown ends every device socket of this node (closed with wire.CloseShuttingDown: 1001
// and "server shutting down") and every stream registered with Stream, and waits for them to
// end or for ctx. Sockets that arrive afterwards are closed the same way at once.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.stopped = true
	var conns []*deviceConn
	for _, cs := range h.devices {
		conns = append(conns, cs...)
	}
	h.mu.Unlock()
	h.stop()
	for _, c := range conns {
		go c.closeNow(wire.CloseShuttingDown)
	}
	done := make(chan struct{})
	go func() {
		h.active.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
