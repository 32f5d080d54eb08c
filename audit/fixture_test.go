package audit_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/audit/checkpoint"
	"github.com/assent-dev/assent/audit/checkpointer"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/localdb"
)

// Secrets of the fixture: no audit output may contain any of them.
const (
	secretPasswordHash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdFNBTFQ$SECRETPASSWORDHASHxyz"
	secretBackupHash   = "k1:BACKUPCODEHASHsecret0001"
)

var secretTOTP = []byte("SEALED-TOTP-SECRET-bytes-0123456789")

// history is an account with one device and n approved challenges, written to a SQLite file
// as the application would write it, with a device key that really signs its answers.
type history struct {
	path      string
	store     *sqlite.Store
	account   uuid.UUID
	device    uuid.UUID
	challenge []uuid.UUID
	key       ed25519.PrivateKey
	cpKey     ed25519.PrivateKey
	cp        *checkpointer.Checkpointer
	db        *localdb.DB // the node's local database: the checkpointer's and the index's tables
	t0        time.Time
}

// localDB opens a local database in a directory of the test's own.
func localDB(t testing.TB) *localdb.DB {
	t.Helper()
	db, err := localdb.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newHistory(t testing.TB, challenges int) *history {
	t.Helper()
	h := &history{path: filepath.Join(t.TempDir(), "events.db"), account: uuid.New(), device: uuid.New(), t0: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	clock := h.t0
	s, err := sqlite.Open(ctxT(t), h.path, sqlite.Options{Now: func() time.Time { clock = clock.Add(time.Second); return clock }})
	if err != nil {
		t.Fatal(err)
	}
	h.store = s
	t.Cleanup(func() { h.store.Close() })
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	h.key = priv
	_, h.cpKey, _ = ed25519.GenerateKey(rand.Reader)
	email, _ := domain.ParseEmail("ada@example.com")
	acct := domain.AccountStream(h.account)
	h.append(t, acct, domain.AccountRegistered{AccountID: h.account, Email: email, PasswordHash: secretPasswordHash, At: h.t0})
	h.append(t, domain.DeviceStream(h.device), domain.DeviceRegistered{DeviceID: h.device, PublicKey: pub, Name: "ada's phone", Platform: "android", At: h.t0})
	h.append(t, acct, domain.DeviceLinked{AccountID: h.account, DeviceID: h.device, PublicKey: pub, Name: "ada's phone", Method: domain.LinkFromComputer, SealedTOTPSecret: secretTOTP, At: h.t0})
	h.append(t, acct, domain.MFAEnabled{AccountID: h.account, At: h.t0})
	h.append(t, acct, domain.BackupCodesIssued{AccountID: h.account, SetID: uuid.New(), Hashes: []string{secretBackupHash}, At: h.t0})
	for i := range challenges {
		h.approve(t, i)
	}
	h.db = localDB(t)
	h.cp = checkpointer.New(checkpointer.Config{Log: s, Appender: s, Key: h.cpKey, DB: h.db, AnchorPath: filepath.Join(filepath.Dir(h.path), checkpoint.AnchorFile)})
	return h
}

// signWith makes the history's checkpointer sign checkpoints of format (resuming from the same
// tables, with the same anchor file), and maxChanged heads at most in a list (0: the default).
func (h *history) signWith(format, maxChanged int) {
	h.cp = checkpointer.New(checkpointer.Config{Log: h.store, Appender: h.store, Key: h.cpKey, DB: h.db, Format: format,
		MaxChanged: maxChanged, AnchorPath: filepath.Join(filepath.Dir(h.path), checkpoint.AnchorFile)})
}

func (h *history) append(t testing.TB, stream string, events ...domain.Event) {
	t.Helper()
	var evs []eventstore.EventData
	for _, e := range events {
		typ, v, data, err := domain.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, eventstore.EventData{Type: typ, SchemaVersion: v, Data: data})
	}
	if _, err := h.store.Append(context.Background(), stream, eventstore.Any(), evs...); err != nil {
		t.Fatal(err)
	}
}

func (h *history) approve(t testing.TB, i int) {
	id := uuid.New()
	h.challenge = append(h.challenge, id)
	lc := domain.LoginContext{UserAgent: "Firefox", IP: "203.0.113.7", At: h.t0}
	d := lc.Digest()
	num := domain.MatchNumber(10 + i%90)
	pub := h.key.Public().(ed25519.PublicKey)
	h.append(t, domain.AccountStream(h.account), domain.SignInChallenged{AccountID: h.account, ChallengeID: id, ExpiresAt: h.t0.Add(time.Minute), At: h.t0})
	sig := ed25519.Sign(h.key, domain.SignedAnswerPayload(id, domain.AnswerApprove, num, d[:]))
	h.append(t, domain.ChallengeStream(id),
		domain.ChallengeIssued{ChallengeID: id, AccountID: h.account, Number: num, Context: lc, ContextDigest: d[:],
			Devices: []domain.ChallengeDevice{{DeviceID: h.device, PublicKey: pub}}, ExpiresAt: h.t0.Add(time.Minute), At: h.t0},
		domain.ChallengeApproved{ChallengeID: id, AccountID: h.account, DeviceID: h.device, Number: num, Signature: sig, At: h.t0})
}

func (h *history) checkpoint(t testing.TB) *checkpoint.Signed {
	t.Helper()
	cp, err := h.cp.Checkpoint(ctxT(t))
	if err != nil || cp == nil {
		t.Fatalf("checkpoint: %v %v", cp, err)
	}
	return cp
}

// verify closes the store, applies tamper to the file with a connection of its own, and
// verifies the file opened read-only, with the checkpoint key trusted and the anchor file.
func (h *history) tamperAndVerify(t *testing.T, tamper func(db execer)) *audit.Report {
	t.Helper()
	if err := h.store.Close(); err != nil {
		t.Fatal(err)
	}
	if tamper != nil {
		withDB(t, h.path, tamper)
	}
	return h.verifyFile(t)
}

func (h *history) verifyFile(t *testing.T) *audit.Report {
	t.Helper()
	ro, err := sqlite.Open(ctxT(t), h.path, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	opts := audit.VerifyOptions{TrustedKeys: []ed25519.PublicKey{h.cpKey.Public().(ed25519.PublicKey)}}
	if a, err := checkpoint.ReadAnchor(filepath.Join(filepath.Dir(h.path), checkpoint.AnchorFile)); err == nil {
		opts.Anchor, opts.AnchorSource = a, "anchor"
	}
	rep, err := audit.Verify(ctxT(t), ro, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}
