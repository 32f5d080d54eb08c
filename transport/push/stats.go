package push

import (
	"time"

	"github.com/google/uuid"
)

// Waiting returns the number of login pages awaiting a challenge's outcome on this node
// (long-polls, event streams and login sockets alike).
func (h *Hub) Waiting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range h.waiters {
		n += len(set)
	}
	return n
}

// Watching returns the number of security pages watching their account live on this node.
func (h *Hub) Watching() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range h.watchers {
		n += len(set)
	}
	return n
}

func (h *Hub) pushSent(challenge uuid.UUID, issuedAt time.Time) {
	if h.opts.OnPushSent != nil {
		h.opts.OnPushSent(challenge, issuedAt)
	}
}
