package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/bridge"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/projections"
	"github.com/assent-dev/assent/transport/metrics"
	"github.com/assent-dev/assent/transport/push"
)

// metricsNode is the metrics side of a running node: the collectors, and the listener of
// --metrics-listen that serves them at /metrics, apart from the API's listener so that they
// are never exposed where the API is.
type metricsNode struct {
	m    *metrics.Metrics
	http *http.Server
	ln   net.Listener
}

func newMetricsNode() *metricsNode { return &metricsNode{m: metrics.New()} }

// onCommit is the embedded store's commit hook.
func (n *metricsNode) onCommit(cs sqlite.CommitStats) { n.m.Commit(cs.Events, cs.Took, cs.Sync) }

// hubOptions are the push hub's hooks that feed the push metrics.
func (n *metricsNode) hubOptions() push.Options {
	return push.Options{
		OnPushSent:  n.m.PushSent,
		OnDelivered: func(challenge, _ uuid.UUID) { n.m.PushDelivered(challenge) },
	}
}

// observe registers what the metrics read at each scrape, and a consumer of the log that
// counts its events by type (and so the lockouts) from the head on.
func (n *metricsNode) observe(store eventstore.Store, svc *app.Service, hub *push.Hub, views *projections.Set, router *message.Router, sub *bridge.Subscriber) {
	src := metrics.Sources{
		DeviceSockets:    hub.Connected,
		LoginWaiters:     hub.Waiting,
		SecurityWatchers: hub.Watching,
		PasswordChecks: func() (int, int, int, uint64) {
			p := svc.PasswordChecks()
			return p.Running, p.Capacity, p.Waiting, p.Busy
		},
		Projections: func() map[string]uint64 {
			out := map[string]uint64{}
			for _, p := range views.All() {
				out[p.Name()] = uint64(p.Position())
			}
			return out
		},
	}
	switch s := store.(type) {
	case *sqlite.Store:
		src.StoreTotals = func() (uint64, uint64, uint64) {
			st := s.Stats()
			return st.Commits, st.Appends, st.Events
		}
		src.Head = func(context.Context) (uint64, error) { return uint64(s.Head()), nil }
	case eventstore.HeadReader:
		src.Head = func(ctx context.Context) (uint64, error) {
			h, err := s.Head(ctx)
			return uint64(h), err
		}
	}
	n.m.Observe(src)
	router.AddConsumerHandler("metrics", "metrics", sub, func(msg *message.Message) error {
		events, err := bridge.Events(msg)
		if err != nil {
			return err
		}
		for _, ev := range events {
			n.m.LogEvent(ev.Type)
		}
		return nil
	})
}

// metricsLinger is how long the events counter waits after an event for others to join it.
const metricsLinger = 50 * time.Millisecond

// listen starts the /metrics listener on addr; an empty addr serves none.
func (n *metricsNode) listen(addr string, log *slog.Logger) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", n.m.Handler())
	n.ln = ln
	n.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := n.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	log.Info("metrics listening", "addr", "http://"+ln.Addr().String()+"/metrics")
	return nil
}

// addr is the metrics listener's address, empty when there is none.
func (n *metricsNode) addr() string {
	if n.ln == nil {
		return ""
	}
	return n.ln.Addr().String()
}

func (n *metricsNode) stop(ctx context.Context) error {
	if n.http == nil {
		return nil
	}
	return n.http.Shutdown(ctx)
}
