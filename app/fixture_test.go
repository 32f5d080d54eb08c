package app

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/localdb"
	"github.com/assent-dev/assent/projections"
	"github.com/assent-dev/assent/secrets"
	"github.com/assent-dev/assent/snapshots"
)

const testPassword = "correct horse battery staple"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var lc = domain.LoginContext{UserAgent: "Firefox/140", IP: "192.0.2.7", Place: "Lyon, FR"}

// testHash is one argon2id hash of testPassword, made once: argon2id under -race is slow, so
// most tests register with it (register) and only the password tests hash for themselves.
var testHash = sync.OnceValue(func() string {
	h, err := secrets.DefaultArgon2Params().Hash(testPassword, nil)
	if err != nil {
		panic(err)
	}
	return h
})

// clock is a fixed clock that tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fixture struct {
	t     testing.TB
	ctx   context.Context
	s     *Service
	store *sqlite.Store
	views *projections.Set
	clock *clock
}

func newFixture(t testing.TB, policy domain.Policy) *fixture {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	kr, err := secrets.ParseKeyring("k1:" + strings.Repeat("A", 43))
	if err != nil {
		t.Fatal(err)
	}
	views := projections.NewSet()
	router, err := projections.NewRouter(views, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := router.Run(ctx); err != nil {
			t.Errorf("router: %v", err)
		}
	}()
	<-router.Running()
	t.Cleanup(func() {
		router.Close()
		<-done
		store.Close()
	})
	db, err := localdb.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	snaps, err := snapshots.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: t0}
	s, err := New(Config{Store: store, Keyring: kr, Projections: views, Policy: policy, Clock: c.Now, Snapshots: snaps})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ctx: ctx, s: s, store: store, views: views, clock: c}
}

// account registers an account with testPassword.
func (f *fixture) account(email string) uuid.UUID {
	f.t.Helper()
	addr, err := domain.ParseEmail(email)
	if err != nil {
		f.t.Fatal(err)
	}
	id, err := f.s.register(f.ctx, addr, testHash())
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

// device is a phone: its key pair and, per account, the TOTP secret it received.
type device struct {
	id   uuid.UUID
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	totp map[uuid.UUID]secrets.TOTPSecret
}

func newDevice(t testing.TB) *device {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &device{id: DeviceID(pub), priv: priv, pub: pub, totp: map[uuid.UUID]secrets.TOTPSecret{}}
}

// enroll links d to the account from a computer and returns the result.
func (f *fixture) enroll(accountID uuid.UUID, d *device) EnrollmentResult {
	f.t.Helper()
	token, _, err := f.s.StartEnrollment(f.ctx, accountID)
	if err != nil {
		f.t.Fatal(err)
	}
	res, err := f.s.CompleteEnrollment(f.ctx, token, d.pub, "Pixel 9", "android")
	if err != nil {
		f.t.Fatal(err)
	}
	secret, err := secretFromBase32(res.TOTPSecret)
	if err != nil {
		f.t.Fatal(err)
	}
	d.totp[accountID] = secret
	return res
}

// challenge issues a challenge for an account as a correct password would.
func (f *fixture) challenge(accountID uuid.UUID) IssuedChallenge {
	f.t.Helper()
	ic, err := f.issue(accountID)
	if err != nil {
		f.t.Fatal(err)
	}
	return ic
}

// issue is challenge that returns its error, for use off the test goroutine.
func (f *fixture) issue(accountID uuid.UUID) (IssuedChallenge, error) {
	return f.s.issueChallenge(f.s.op(f.ctx, accountActor(accountID)), accountID, lc)
}

// sign returns d's signature of an answer to a challenge, over the digest the challenge holds.
// A challenge that cannot be read gives a nil signature, which the service refuses.
func (f *fixture) sign(d *device, challengeID uuid.UUID, answer domain.Answer, number int) []byte {
	c, err := f.s.loadChallenge(f.ctx, challengeID)
	if err != nil {
		return nil
	}
	return ed25519.Sign(d.priv, domain.SignedAnswerPayload(challengeID, answer, domain.MatchNumber(number), c.ContextDigest()))
}

// answer signs and sends an answer from d. It is safe off the test goroutine.
func (f *fixture) answer(d *device, challengeID uuid.UUID, answer domain.Answer, number int) error {
	return f.s.AnswerChallenge(f.ctx, d.id, challengeID, answer, number, f.sign(d, challengeID, answer, number))
}

// types returns the event types of a stream, in order.
func (f *fixture) types(stream string) []string {
	f.t.Helper()
	recs, err := f.store.ReadStream(f.ctx, stream, eventstore.ReadStreamOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Type
	}
	return out
}

// count returns how many events of type typ a stream holds.
func (f *fixture) count(stream, typ string) int {
	n := 0
	for _, t := range f.types(stream) {
		if t == typ {
			n++
		}
	}
	return n
}

func secretFromBase32(s string) (secrets.TOTPSecret, error) {
	raw, err := b32.DecodeString(s)
	if err != nil {
		return secrets.TOTPSecret{}, err
	}
	return secrets.TOTPSecretFromBytes(raw)
}
