package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/audit/checkpoint"
	"github.com/assent-dev/assent/audit/checkpointer"
	"github.com/assent-dev/assent/auditors"
	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/localdb"
	"github.com/assent-dev/assent/secrets"
	"github.com/assent-dev/assent/transport/httpapi"
)

// auditNode is the audit side of a running node: the checkpointer that signs the heads of all
// streams every minute and on shutdown, and what the /v1/audit routes read. Both keep their
// state in the node's local database (readmodels.db in the data directory), whatever the event
// store, and resume from it at the next start.
type auditNode struct {
	http *httpapi.Audit
	cp   *checkpointer.Checkpointer
	log  *slog.Logger
	done chan struct{}
}

// chainedStore is an event store with the hash-chain capability, which the audit side needs
// (it is an httpapi.AuditLog and an audit.ChainLog).
type chainedStore interface {
	eventstore.Store
	eventstore.ChainReader
}

// auditInterval is the period of signed checkpoints; tests shorten it.
var auditInterval = time.Minute

// newAuditNode prepares the audit side over store. It returns a nil node (and the routes are
// not served) when the store keeps no hash chain (EventStoreDB, for now). Auditor credentials
// come from the auditor-tokens option (ASSENT_AUDITOR_TOKENS, "name:sha256hex", comma-separated)
// and from <data-dir>/auditors.json, which `assent audit token create` writes.
// db is the node's own database, which the caller opened and closes.
func newAuditNode(cfg config.Config, store, sealed eventstore.Store, db *localdb.DB, keyring *secrets.Keyring, log *slog.Logger) (*auditNode, error) {
	chained, ok := store.(chainedStore)
	if !ok {
		log.Warn("audit trail is OFF: this event store keeps no hash chain per stream",
			"off", auditOff, "auditor_tokens_ignored", cfg.AuditorTokens != "")
		return nil, nil
	}
	auditors, err := auditors.Parse(cfg.AuditorTokens, filepath.Join(cfg.DataDir, auditors.File))
	if err != nil {
		return nil, err
	}
	key, err := checkpoint.SigningKey(keyring.DeriveKey("audit.checkpoint"))
	if err != nil {
		return nil, err
	}
	trusted, err := checkpointKeys(keyring)
	if err != nil {
		return nil, err
	}
	anchor := filepath.Join(cfg.DataDir, checkpoint.AnchorFile)
	cp := checkpointer.New(checkpointer.Config{Log: chained, Appender: store, Key: key, DB: db, AnchorPath: anchor,
		Interval: auditInterval, Logger: log.With("component", "audit")})
	log.Info("audit ready", "auditors", auditors.Len(), "checkpoint_key", checkpoint.KeyID(cp.PublicKey()))
	return &auditNode{cp: cp, log: log.With("component", "audit"), done: make(chan struct{}), http: &httpapi.Audit{
		Log: chained, Reader: audit.NewReader(sealed, db), Opener: openerOf(sealed), Auditors: auditors, Recorder: &audit.Recorder{Appender: store},
		PublicKey: cp.PublicKey(), TrustedKeys: trusted, Checkpoints: cp, AnchorPath: anchor,
	}}, nil
}

// openerOf returns what opens the personal fields of the stored events that the audit's
// exports and tail show (the replays read the sealing store itself).
func openerOf(sealed eventstore.Store) audit.Opener {
	if o, ok := sealed.(audit.Opener); ok {
		return o
	}
	return nil
}

// checkpointKeys returns the public checkpoint key of every key of the keyring, the primary's
// first: checkpoints are signed with the primary's, and those an older key signed verify as
// long as that key stays in the keyring.
func checkpointKeys(keyring *secrets.Keyring) ([]ed25519.PublicKey, error) {
	var out []ed25519.PublicKey
	for _, d := range keyring.DeriveKeys("audit.checkpoint") {
		key, err := checkpoint.SigningKey(d.Key)
		if err != nil {
			return nil, err
		}
		out = append(out, key.Public().(ed25519.PublicKey))
	}
	return out, nil
}

// auditOff names what a node without a hash-chained store does not have, for the warning at
// start; README.md's cluster section says the same.
const auditOff = "hash chains per stream, signed checkpoints and the anchor file, " +
	"the /v1/audit routes (replay, timeline, state at a moment, live tail, verify), " +
	"and the recording of auditors' reads"

// checkLogAgainstAnchor refuses to start a node on a log that lost events a signed checkpoint
// covers: the anchor file, kept outside the log, holds a checkpoint the log no longer reaches.
// Starting would sign new checkpoints over the cut log and overwrite the anchor, erasing the
// evidence; the operator must restore a backup, or record the loss (assent audit accept-loss).
func checkLogAgainstAnchor(ctx context.Context, cfg config.Config, store eventstore.Store, head eventstore.Position) error {
	if _, ok := store.(eventstore.ChainReader); !ok {
		return nil
	}
	path := filepath.Join(cfg.DataDir, checkpoint.AnchorFile)
	anchor, err := checkpoint.ReadAnchor(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w (the anchor file cannot be read: restore it from a backup, or move it aside to start without it)", err)
	}
	err = audit.CheckAgainstAnchor(ctx, store, anchor, head)
	if errors.Is(err, audit.ErrLogCut) {
		return fmt.Errorf("%w.\nThe server does not sign new checkpoints over a log that lost events, as that would erase the evidence (the anchor is %s). "+
			"Restore the data directory from a backup; or, to go on without the lost events, record the loss with "+
			"`assent audit accept-loss --data-dir %s --reason TEXT` and start again", err, path, cfg.DataDir)
	}
	return err
}

// routes is the httpapi side, nil when audit is off.
func (n *auditNode) routes() *httpapi.Audit {
	if n == nil {
		return nil
	}
	return n.http
}

// run signs checkpoints until ctx ends, then signs the shutdown checkpoint. A node stopped
// before its first checkpoint (on a large log, the checkpointer's first fold of it can take
// minutes) signs none: what it folded is in its tables, and the next start goes on from there.
func (n *auditNode) run(ctx context.Context) {
	if n == nil {
		return
	}
	go func() {
		defer close(n.done)
		if _, err := n.cp.Checkpoint(ctx); err != nil {
			if ctx.Err() != nil {
				n.log.Info("audit: stopped before the first checkpoint; the fold of the log resumes at the next start", "events_folded", n.cp.EventsRead())
				return
			}
			n.log.Error("audit: first checkpoint", "err", err)
		}
		n.cp.Run(ctx)
	}()
}

// wait returns once the shutdown checkpoint is written; call it after cancelling run's ctx
// and before closing the store and the local database.
func (n *auditNode) wait() error {
	if n == nil {
		return nil
	}
	select {
	case <-n.done:
		return nil
	case <-time.After(15 * time.Second):
		return fmt.Errorf("audit: the shutdown checkpoint did not finish")
	}
}
