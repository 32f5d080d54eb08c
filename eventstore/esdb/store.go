// Package esdb is the cluster backend of the event store: eventstore.Store on EventStoreDB,
// through its gRPC client (github.com/EventStore/EventStore-Client-Go/v4). Streams map to
// EventStoreDB streams, stream versions to event numbers, and global positions to commit
// positions of $all; every Assent node tails $all and so sees every event.
package esdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/assent-dev/assent/eventstore"
)

// The capabilities this backend offers beside eventstore.Store.
var (
	_ eventstore.Store       = (*Store)(nil)
	_ eventstore.HeadReader  = (*Store)(nil)
	_ eventstore.Checkpoints = (*Store)(nil)
)

// Options tune a Store. The zero value is ready to use.
type Options struct {
	// Logger receives the client library's own diagnostics (connection discovery, dropped
	// streams). Errors reach callers as returned errors, so the client's messages are logged at
	// Debug (its debug and info) and Warn (its warnings and errors). Default: discarded.
	Logger *slog.Logger
}

// Store is the EventStoreDB event store. Open it with Open; it is safe for concurrent use.
type Store struct {
	conf esdbclient.Configuration // a copy, to build a new client when the old one gave up

	mu     sync.RWMutex // guards client, closed, subs; held for reading to start an operation
	client *esdbclient.Client
	closed bool
	subs   map[*subscription]struct{}
	ops    sync.WaitGroup // operations in flight, waited for by Close

	cpMu     sync.Mutex
	cpLimits map[string]bool // checkpoint streams whose max-count this Store has ensured
}

// Open connects to the EventStoreDB node or cluster named by a connection string, such as
// "esdb://localhost:2113?tls=false" (one insecure node) or
// "esdb://node1:2113,node2:2113,node3:2113?tls=false&nodePreference=leader" (a cluster, found
// through gossip). It returns once the client has reached a node, or with the error that kept
// it from doing so.
func Open(ctx context.Context, connection string, opts Options) (*Store, error) {
	conf, err := esdbclient.ParseConnectionString(connection)
	if err != nil {
		// The client's message may quote the string, which may hold a password: name neither.
		return nil, fmt.Errorf("esdb open: the connection string is not valid: %w", redacted(err, connection))
	}
	conf.Logger = clientLogger(opts.Logger)
	s := &Store{conf: *conf, subs: make(map[*subscription]struct{}), cpLimits: make(map[string]bool)}
	if s.client, err = esdbclient.NewClient(conf); err != nil {
		return nil, fmt.Errorf("esdb open: %w", err)
	}
	// The client connects lazily and its discovery ignores contexts: probe on a goroutine, so
	// that ctx bounds Open.
	probe := make(chan error, 1)
	go func() {
		_, err := s.client.GetServerVersion()
		probe <- err
	}()
	select {
	case err = <-probe:
	case <-ctx.Done():
		err = ctx.Err()
		go func() { <-probe; s.client.Close() }()
		return nil, fmt.Errorf("esdb open: %w", err)
	}
	if err != nil {
		s.client.Close()
		return nil, fmt.Errorf("esdb open: cannot reach EventStoreDB: %w", err)
	}
	return s, nil
}

// Close ends every subscription, waits for the operations in flight and closes the connection.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	subs := make([]*subscription, 0, len(s.subs))
	for sub := range s.subs {
		subs = append(subs, sub)
	}
	s.mu.Unlock()
	for _, sub := range subs {
		sub.Close()
	}
	s.ops.Wait()
	// Closing the client while an operation still used it could panic inside the client (it
	// sends on a channel that Close closes); hence the wait above.
	return s.client.Close()
}

// acquire returns the client for one operation; the caller calls done when the operation,
// including the reading of its results, is over.
func (s *Store) acquire() (c *esdbclient.Client, done func(), err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, nil, eventstore.ErrClosed
	}
	s.ops.Add(1)
	return s.client, s.ops.Done, nil
}

// renew replaces a client that has given up. The v4 client stops for good when a discovery
// fails (every later call returns ErrorCodeConnectionClosed); a new client starts a new
// discovery on its first call. The old client is not closed: its own goroutine has already
// stopped, and closing it under callers that still hold it could panic.
func (s *Store) renew(old *esdbclient.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.client != old {
		return
	}
	conf := s.conf
	if c, err := esdbclient.NewClient(&conf); err == nil {
		s.client = c
	}
}

// failure turns an error of the client into the error an operation returns: the context's
// error when the context ended it, and otherwise the client's error, wrapped with what failed.
// It also renews a client that has given up.
func (s *Store) failure(ctx context.Context, c *esdbclient.Client, err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("esdb %s: %w", what, ctxErr)
	}
	var ee *esdbclient.Error
	if errors.As(err, &ee) && ee.IsErrorCode(esdbclient.ErrorCodeConnectionClosed) {
		s.renew(c)
	}
	return fmt.Errorf("esdb %s: %w", what, err)
}

func (s *Store) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// clientLogger adapts the client's printf-style logging to slog.
func clientLogger(l *slog.Logger) esdbclient.LoggingFunc {
	if l == nil {
		return esdbclient.NoopLogging()
	}
	return func(level esdbclient.LogLevel, format string, args ...any) {
		lvl := slog.LevelDebug
		if level == esdbclient.LogWarn || level == esdbclient.LogError {
			lvl = slog.LevelWarn
		}
		l.Log(context.Background(), lvl, "eventstoredb client: "+fmt.Sprintf(format, args...))
	}
}

// redacted removes the connection string from err's message when it holds credentials.
func redacted(err error, connection string) error {
	if !strings.Contains(connection, "@") {
		return err
	}
	msg := strings.ReplaceAll(err.Error(), connection, "<connection string>")
	return errors.New(msg)
}
