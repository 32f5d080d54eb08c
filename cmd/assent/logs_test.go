package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/keyfile"
)

// logRecords is a slog.Handler that keeps every record, for tests that check what the server
// logs.
type logRecords struct {
	mu    sync.Mutex
	recs  []slog.Record
	attrs []slog.Attr
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(l.attrs...)
	l.mu.Lock()
	l.recs = append(l.recs, r)
	l.mu.Unlock()
	return nil
}

func (l *logRecords) WithAttrs(as []slog.Attr) slog.Handler {
	// The children share the parent's records.
	return &logChild{parent: l, attrs: as}
}

func (l *logRecords) WithGroup(string) slog.Handler { return l }

type logChild struct {
	parent *logRecords
	attrs  []slog.Attr
}

func (c *logChild) Enabled(context.Context, slog.Level) bool { return true }
func (c *logChild) Handle(ctx context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(c.attrs...)
	return c.parent.Handle(ctx, r)
}
func (c *logChild) WithAttrs(as []slog.Attr) slog.Handler {
	return &logChild{parent: c.parent, attrs: append(append([]slog.Attr{}, c.attrs...), as...)}
}
func (c *logChild) WithGroup(string) slog.Handler { return c }

// records returns the records so far, each as its message, level and attributes.
func (l *logRecords) records() []logLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]logLine, 0, len(l.recs))
	for _, r := range l.recs {
		ln := logLine{Msg: r.Message, Level: r.Level, Attrs: map[string]string{}}
		r.Attrs(func(a slog.Attr) bool {
			ln.Attrs[a.Key] = a.Value.Resolve().String()
			return true
		})
		out = append(out, ln)
	}
	return out
}

type logLine struct {
	Msg   string
	Level slog.Level
	Attrs map[string]string
}

// startLoggedNode starts a node on loopback over a real SQLite file whose log lands in the
// returned records; tune may adjust the configuration first. stop shuts it down (once; the
// test's cleanup calls it too).
func startLoggedNode(t *testing.T, tune func(*config.Config)) (n *node, logs *logRecords, stop func()) {
	t.Helper()
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	if tune != nil {
		tune(&cfg)
	}
	logs = &logRecords{}
	srv, err := start(context.Background(), cfg, slog.New(logs), startOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Stop(ctx); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &node{t: t, srv: srv, url: "http://" + srv.Addr(), rec: &recorder{}}, logs, stop
}

// TestServedStoreLogsNoErrorWhileEventsFlow: every event the router delivers moves the read
// models' checkpoint; saving it must not be an error (it was, once per event, for the consumer
// that feeds the whole set).
func TestServedStoreLogsNoErrorWhileEventsFlow(t *testing.T) {
	t.Parallel()
	n, logs, stop := startLoggedNode(t, nil)
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		n.account(t, email)
	}
	stop() // the last checkpoint is saved on the way out
	for _, r := range logs.records() {
		if r.Level >= slog.LevelError {
			t.Errorf("ERROR logged while events flowed: %s %v", r.Msg, r.Attrs)
		}
	}
}

// unchainedStore hides every capability of the store but the port's, as EventStoreDB's
// backend has no hash chain.
type unchainedStore struct{ eventstore.Store }

// TestAuditOffIsWarnedNamingWhatIsOff: on a store without a hash chain the node serves no
// audit trail, and says so at start, naming each thing that is off.
func TestAuditOffIsWarnedNamingWhatIsOff(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sq, err := sqlite.Open(context.Background(), filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	keyring, err := keyfile.LoadOrCreate(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.DataDir = dir
	cfg.AuditorTokens = "alice:" + strings.Repeat("ab", 32)
	logs := &logRecords{}
	n, err := newAuditNode(cfg, unchainedStore{sq}, unchainedStore{sq}, nil, keyring, slog.New(logs))
	if err != nil || n != nil {
		t.Fatalf("audit node on a store without chains: %v, %v", n, err)
	}
	var warned []logLine
	for _, r := range logs.records() {
		if r.Level == slog.LevelWarn {
			warned = append(warned, r)
		}
	}
	if len(warned) != 1 {
		t.Fatalf("want one warning, got %+v", logs.records())
	}
	text := warned[0].Msg + " " + warned[0].Attrs["off"]
	for _, want := range []string{"audit trail is OFF", "hash chain", "signed checkpoints", "/v1/audit", "verify", "auditors' reads"} {
		if !strings.Contains(text, want) {
			t.Errorf("the warning %q does not name %q", text, want)
		}
	}
	if warned[0].Attrs["auditor_tokens_ignored"] != "true" {
		t.Errorf("the warning does not say the configured auditor tokens are ignored: %v", warned[0].Attrs)
	}
}
