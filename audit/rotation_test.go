package audit_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/audit/checkpoint"
	"github.com/assent-dev/assent/audit/checkpointer"
	"github.com/assent-dev/assent/eventstore/sqlite"
)

// TestVerifyChecksEachCheckpointWithTheKeyItNames signs checkpoints with one key, then, after
// a rotation, with another: trusting both, the log holds; once the first is no longer trusted,
// its checkpoint is reported as signed by a key that is not trusted, by that key's ID.
func TestVerifyChecksEachCheckpointWithTheKeyItNames(t *testing.T) {
	t.Parallel()
	h := newHistory(t, 2)
	h.checkpoint(t)
	oldPub := h.cpKey.Public().(ed25519.PublicKey)
	_, rotated, _ := ed25519.GenerateKey(rand.Reader)
	newPub := rotated.Public().(ed25519.PublicKey)
	h.approve(t, 2)
	cp := checkpointer.New(checkpointer.Config{Log: h.store, Appender: h.store, Key: rotated, DB: h.db})
	if got, err := cp.Checkpoint(ctxT(t)); err != nil || got == nil || !newPub.Equal(ed25519.PublicKey(got.PublicKey)) {
		t.Fatalf("checkpoint after the rotation: %+v %v", got, err)
	}
	if err := h.store.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := sqlite.Open(ctxT(t), h.path, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()

	rep, err := audit.Verify(ctxT(t), ro, audit.VerifyOptions{TrustedKeys: []ed25519.PublicKey{newPub, oldPub}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Checkpoints != 2 || rep.Checkpoint.KeyID != checkpoint.KeyID(newPub) {
		t.Fatalf("both keys trusted: %+v", rep)
	}

	rep, err = audit.Verify(ctxT(t), ro, audit.VerifyOptions{TrustedKeys: []ed25519.PublicKey{newPub}})
	if err != nil {
		t.Fatal(err)
	}
	var named []string
	for _, f := range errorsOf(rep) {
		if f.Kind == audit.FindCheckpointBad {
			named = append(named, f.Message)
		}
	}
	if rep.OK || len(named) != 1 || !strings.Contains(named[0], checkpoint.KeyID(oldPub)) || !strings.Contains(named[0], "not trusted") {
		t.Fatalf("the old key's checkpoint, once its key is retired: %v", named)
	}
}
