package storegen

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/secrets"
)

// The history is a simulated day or two: every step (one command of one account) moves the
// clock by tick, and window accounts are under way at once, their steps interleaved, so that
// the log mixes streams as a busy server's does and a sign-in's steps lie seconds apart.
const (
	tick   = 20 * time.Millisecond
	window = 256
	// stepsPerEvent is the number of steps per event of a generated history, about (a step
	// appends one to three events): 0.54 measured on 100,000 events.
	stepsPerEvent = 0.55
)

// The share of activities of an account with 2FA, in percent; an account without 2FA only
// mistypes its password and signs out (its sign-ins write nothing).
const (
	pctPush     = 55 // a sign-in approved on the device
	pctTOTP     = 20 // a sign-in passed with the device's TOTP code
	pctWrong    = 15 // a wrong password
	userAgent   = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
	sessionLife = 12 * time.Hour
)

type generator struct {
	cfg     Config
	m       Manifest
	keyring *secrets.Keyring
	hasher  *secrets.CodeHasher
	hash    string
	policy  domain.Policy
	rng     *mrand.ChaCha8
	r       *mrand.Rand
	now     time.Time
	next    int // the next account to start
	written int // events decided so far
	steps   int // commands decided so far
	// end is the latest simulated time: the start of the run.
	end time.Time
	// promised is the quotas of the accounts under way plus what the finished ones wrote.
	promised int
	signIns  int
	cur      batch
	emit     func(batch) bool
	stopped  bool
	scripts  []*script
}

func newGenerator(cfg Config, m Manifest, keyring *secrets.Keyring, hash string) *generator {
	seed := sha256.Sum256([]byte(cfg.Seed))
	rng := mrand.NewChaCha8(seed)
	g := &generator{cfg: cfg, m: m, keyring: keyring, hasher: keyring.CodeHasher(), hash: hash, rng: rng, r: mrand.New(rng)}
	g.policy.SetDefaults()
	// The history ends about now: it starts as many ticks ago as it has steps, about
	// (stepsPerEvent), and never goes past the start of the run.
	g.end = time.Now().UTC()
	g.now = g.end.Add(-time.Duration(float64(cfg.Events)*stepsPerEvent) * tick)
	return g
}

// script is one account under way: its streams as decoded events, and what it does next.
type script struct {
	i       int
	id      uuid.UUID
	email   domain.Email
	account []domain.Event
	device  *device
	// enrollment is the events of the account's enrollment stream.
	enrollment []domain.Event
	// steps are the commands still to run, each a closure over the script.
	steps []func() error
	quota int // events this account may write in all
	wrote int
	// challenge is the events of the last challenge the account was issued.
	challengeID uuid.UUID
	challenge   []domain.Event
	lastStep    uint64 // the last TOTP step spent
}

type device struct {
	id     uuid.UUID
	key    ed25519.PrivateKey
	events []domain.Event
}

// run decides the whole history and hands it over batch by batch.
func (g *generator) run(ctx context.Context, emit func(batch) bool) error {
	g.emit = emit
	for len(g.scripts) < window && g.next < g.cfg.Accounts {
		s, err := g.start()
		if err != nil {
			return err
		}
		g.scripts = append(g.scripts, s)
	}
	for len(g.scripts) > 0 {
		if g.stopped {
			return ctx.Err()
		}
		k := g.r.IntN(len(g.scripts))
		s := g.scripts[k]
		step := s.steps[0]
		s.steps = s.steps[1:]
		if g.now = g.now.Add(tick); g.now.After(g.end) {
			g.now = g.end
		}
		g.steps++
		if err := step(); err != nil {
			return fmt.Errorf("storegen: account %d: %w", s.i, err)
		}
		if len(s.steps) == 0 {
			g.plan(s)
		}
		if len(s.steps) == 0 { // done: the next account takes its place
			g.promised += s.wrote - s.quota
			if g.next < g.cfg.Accounts {
				ns, err := g.start()
				if err != nil {
					return err
				}
				g.scripts[k] = ns
			} else {
				g.scripts[k] = g.scripts[len(g.scripts)-1]
				g.scripts = g.scripts[:len(g.scripts)-1]
			}
		}
	}
	g.flush()
	if g.stopped {
		return ctx.Err()
	}
	return nil
}

// start opens the next account's script: its registration and, for most, a device.
func (g *generator) start() (*script, error) {
	i := g.next
	g.next++
	email, err := domain.ParseEmail(g.m.Email(i))
	if err != nil {
		return nil, err
	}
	s := &script{i: i, id: g.newID(), email: email}
	// What is left of the budget, shared by the accounts still to come, give or take.
	share := max(2, (g.cfg.Events-g.promised)/(g.cfg.Accounts-i))
	s.quota = share/2 + g.r.IntN(share+1)
	g.promised += s.quota
	s.steps = append(s.steps, func() error { return g.register(s) })
	if g.m.Linked(i) {
		var tok domain.EnrollmentToken
		s.steps = append(s.steps, func() error {
			var err error
			tok, err = g.startEnrollment(s)
			return err
		}, func() error { return g.completeEnrollment(s, tok) })
	}
	return s, nil
}

// plan gives a script its next activity while its quota lasts.
func (g *generator) plan(s *script) {
	if s.wrote >= s.quota {
		return
	}
	p := g.r.IntN(100)
	if s.device == nil { // without 2FA, a sign-in writes nothing
		p = pctPush + pctTOTP + g.r.IntN(100-pctPush-pctTOTP)
	}
	switch {
	case p < pctPush || (p < pctPush+pctTOTP && secrets.TOTPStep(g.now) <= s.lastStep):
		var number domain.MatchNumber
		s.steps = append(s.steps,
			func() error { var err error; number, err = g.signIn(s); return err },
			func() error { return g.deliver(s) },
			func() error { return g.approve(s, number) },
			func() error { return g.redeem(s) })
	case p < pctPush+pctTOTP:
		s.steps = append(s.steps,
			func() error { _, err := g.signIn(s); return err },
			func() error { return g.deliver(s) },
			func() error { return g.completeWithTOTP(s) },
			func() error { return g.redeem(s) })
	case p < pctPush+pctTOTP+pctWrong:
		s.steps = append(s.steps, func() error { return g.wrongPassword(s) })
	default:
		s.steps = append(s.steps, func() error { return g.signOut(s) })
	}
}

// op is one command: the metadata its events share, as the application's op gives them.
type op struct {
	g                         *generator
	s                         *script
	correlation, cause, actor string
}

func (g *generator) op(s *script, actor string) *op {
	return &op{g: g, s: s, correlation: g.newID().String(), actor: actor}
}

func accountActor(id uuid.UUID) string { return "account:" + id.String() }
func deviceActor(id uuid.UUID) string  { return "device:" + id.String() }

// append encodes events as the application does and adds them to the batch.
func (o *op) append(stream string, expected eventstore.ExpectedVersion, events []domain.Event) error {
	if len(events) == 0 {
		return nil
	}
	g := o.g
	data := make([]eventstore.EventData, len(events))
	for i, e := range events {
		typ, ver, raw, err := domain.Encode(e)
		if err != nil {
			return fmt.Errorf("append to %s: %w", stream, err)
		}
		data[i] = eventstore.EventData{ID: g.newID(), Type: typ, SchemaVersion: ver, Data: raw, Metadata: eventstore.Metadata{
			CorrelationID: o.correlation, CausationID: o.cause, Actor: o.actor,
		}}
	}
	o.cause = data[len(data)-1].ID.String()
	g.cur.appends = append(g.cur.appends, eventstore.StreamAppend{Stream: stream, Expected: expected, Events: data})
	g.cur.events += len(data)
	g.cur.at = g.now
	g.written += len(data)
	o.s.wrote += len(data)
	if g.cur.events >= g.cfg.BatchEvents {
		g.flush()
	}
	return nil
}

// toAccount appends events to the script's account stream at its version and adds them to
// what the script knows of it.
func (o *op) toAccount(events []domain.Event) error {
	if err := o.append(domain.AccountStream(o.s.id), expect(o.s.account), events); err != nil {
		return err
	}
	o.s.account = append(o.s.account, events...)
	return nil
}

// toChallenge does the same for the script's current challenge.
func (o *op) toChallenge(events []domain.Event) error {
	if err := o.append(domain.ChallengeStream(o.s.challengeID), expect(o.s.challenge), events); err != nil {
		return err
	}
	o.s.challenge = append(o.s.challenge, events...)
	return nil
}

func (g *generator) flush() {
	if g.cur.events == 0 || g.stopped {
		return
	}
	if !g.emit(g.cur) {
		g.stopped = true
	}
	g.cur = batch{}
}

// expect is the expected version of a stream that holds events.
func expect(events []domain.Event) eventstore.ExpectedVersion {
	if len(events) == 0 {
		return eventstore.NoStream()
	}
	return eventstore.Exact(uint64(len(events) - 1))
}

// decided returns d's events, or its error when it refused.
func decided(d domain.Decision) ([]domain.Event, error) {
	if d.Err != nil {
		return nil, d.Err
	}
	return d.Events, nil
}

// register claims the email and creates the account in one write (app.Service.register).
func (g *generator) register(s *script) error {
	o := g.op(s, accountActor(s.id))
	claim, err := domain.LoadEmailClaim(nil)
	if err != nil {
		return err
	}
	claimed, err := decided(claim.Claim(domain.ClaimEmail{AccountID: s.id}, g.now))
	if err != nil {
		return err
	}
	a, _ := domain.LoadAccount(nil)
	registered, err := decided(a.Register(domain.RegisterAccount{AccountID: s.id, Email: s.email, PasswordHash: g.hash}, g.now))
	if err != nil {
		return err
	}
	if err := o.append(domain.EmailStream(s.email), eventstore.NoStream(), claimed); err != nil {
		return err
	}
	s.account = registered
	return o.append(domain.AccountStream(s.id), eventstore.NoStream(), registered)
}

// startEnrollment opens an enrollment link from the security page (app.Service.StartEnrollment).
func (g *generator) startEnrollment(s *script) (domain.EnrollmentToken, error) {
	a, err := domain.LoadAccount(s.account)
	if err != nil {
		return domain.EnrollmentToken{}, err
	}
	tok, err := domain.NewEnrollmentToken(g.rng)
	if err != nil {
		return tok, err
	}
	en, _ := domain.LoadEnrollment(nil)
	started, err := decided(en.Start(domain.StartEnrollment{TokenID: tok.ID(), Account: a}, g.now, g.policy))
	if err != nil {
		return tok, err
	}
	s.enrollment = started
	return tok, g.op(s, accountActor(s.id)).append(domain.EnrollmentStream(tok.ID()), eventstore.NoStream(), started)
}

// completeEnrollment is the device scanning the link: the enrollment completed, the device
// registered, and linked with its sealed TOTP secret, which turns 2FA on with the first backup
// codes (app.Service.CompleteEnrollment).
func (g *generator) completeEnrollment(s *script, tok domain.EnrollmentToken) error {
	key := ed25519.NewKeyFromSeed(g.m.DeviceSeed(s.i))
	pub := key.Public().(ed25519.PublicKey)
	dev := &device{id: app.DeviceID(pub), key: key}
	o := g.op(s, deviceActor(dev.id))
	stream := domain.EnrollmentStream(tok.ID())
	enEvents := s.enrollment
	en, err := domain.LoadEnrollment(enEvents)
	if err != nil {
		return err
	}
	completed, err := decided(en.Complete(domain.CompleteEnrollment{DeviceID: dev.id, PublicKey: pub}, g.now))
	if err != nil {
		return err
	}
	if err := o.append(stream, expect(enEvents), completed); err != nil {
		return err
	}
	if en, err = domain.LoadEnrollment(append(enEvents, completed...)); err != nil {
		return err
	}
	d, _ := domain.LoadDevice(nil)
	registered, err := decided(d.Register(domain.RegisterDevice{DeviceID: dev.id, PublicKey: pub, Name: "Phone", Platform: "android"}, g.now))
	if err != nil {
		return err
	}
	if err := o.append(domain.DeviceStream(dev.id), eventstore.NoStream(), registered); err != nil {
		return err
	}
	dev.events = registered
	ld, err := domain.LoadDevice(registered)
	if err != nil {
		return err
	}
	secret, err := g.m.TOTPSecret(s.i)
	if err != nil {
		return err
	}
	sealed, err := g.keyring.Seal(secret.Bytes(), s.id[:])
	if err != nil {
		return err
	}
	a, err := domain.LoadAccount(s.account)
	if err != nil {
		return err
	}
	linked, err := decided(a.LinkDevice(domain.LinkDevice{Device: ld, Enrollment: en, SealedTOTPSecret: sealed}, g.now))
	if err != nil {
		return err
	}
	a, err = domain.LoadAccount(append(append([]domain.Event(nil), s.account...), linked...))
	if err != nil {
		return err
	}
	codes, err := secrets.GenerateBackupCodes(g.rng)
	if err != nil {
		return err
	}
	set := domain.BackupCodeSet{SetID: g.newID()}
	for _, c := range codes {
		set.Hashes = append(set.Hashes, g.hasher.Hash(c))
	}
	enabled, err := decided(a.EnableMFA(domain.EnableMFA{BackupCodes: set}, g.now))
	if err != nil {
		return err
	}
	events := append(linked, enabled...)
	if err := o.toAccount(events); err != nil {
		return err
	}
	s.device = dev
	return nil
}

// signIn is a correct password on an account with 2FA: a challenge issued with a number to
// match (app.Service.SignIn), and the superseded one cancelled when it is still open.
func (g *generator) signIn(s *script) (domain.MatchNumber, error) {
	a, err := domain.LoadAccount(s.account)
	if err != nil {
		return 0, err
	}
	number, err := domain.NewMatchNumber(g.rng)
	if err != nil {
		return 0, err
	}
	id := g.newID()
	lc := domain.LoginContext{UserAgent: userAgent, IP: g.ip()}
	issue, err := a.IssueChallenge(domain.IssueChallenge{ChallengeID: id, Number: number, Context: lc}, g.now, g.policy)
	if err != nil {
		return 0, err
	}
	o := g.op(s, accountActor(s.id))
	if err := o.append(domain.AccountStream(s.id), expect(s.account), issue.AccountEvents); err != nil {
		return 0, err
	}
	s.account = append(s.account, issue.AccountEvents...)
	if err := o.append(domain.ChallengeStream(id), eventstore.NoStream(), issue.ChallengeEvents); err != nil {
		return 0, err
	}
	if issue.Superseded != uuid.Nil && issue.Superseded == s.challengeID {
		c, err := domain.LoadChallenge(s.challenge)
		if err != nil {
			return 0, err
		}
		// A challenge already decided needs nothing more (app.Service.cancel).
		if d := c.Cancel(domain.CancelChallenge{Reason: domain.CancelSuperseded}, g.now); d.Err == nil {
			if err := o.append(domain.ChallengeStream(s.challengeID), expect(s.challenge), d.Events); err != nil {
				return 0, err
			}
		}
	}
	s.challengeID, s.challenge = id, issue.ChallengeEvents
	g.signIns++
	return number, nil
}

// deliver is the device's receipt (app.Service.AcknowledgeDelivery).
func (g *generator) deliver(s *script) error {
	c, err := domain.LoadChallenge(s.challenge)
	if err != nil {
		return err
	}
	events, err := decided(c.AcknowledgeDelivery(domain.AcknowledgeDelivery{DeviceID: s.device.id}, g.now))
	if err != nil {
		return err
	}
	if err := g.op(s, deviceActor(s.device.id)).append(domain.ChallengeStream(s.challengeID), eventstore.StreamExists(), events); err != nil {
		return err
	}
	s.challenge = append(s.challenge, events...)
	return nil
}

// approve is the person typing the number on the device and tapping YES, signed by the
// device's key (app.Service.AnswerChallenge).
func (g *generator) approve(s *script, number domain.MatchNumber) error {
	c, err := domain.LoadChallenge(s.challenge)
	if err != nil {
		return err
	}
	a, err := domain.LoadAccount(s.account)
	if err != nil {
		return err
	}
	sig := ed25519.Sign(s.device.key, domain.SignedAnswerPayload(s.challengeID, domain.AnswerApprove, number, c.ContextDigest()))
	events, err := decided(c.Approve(domain.ApproveChallenge{DeviceID: s.device.id, Number: number, Signature: sig, Lockout: a.Lockout(g.now, g.policy)}, g.now))
	if err != nil {
		return err
	}
	return g.op(s, deviceActor(s.device.id)).toChallenge(events)
}

// completeWithTOTP is the device's current code typed on the login page: spent on the account,
// then the challenge completed (app.Service.CompleteWithTOTP). The code is the one the
// device's secret gives now, so its match is that secret at the current step.
func (g *generator) completeWithTOTP(s *script) error {
	a, err := domain.LoadAccount(s.account)
	if err != nil {
		return err
	}
	secretsOf := a.TOTPSecrets()
	if len(secretsOf) == 0 {
		return fmt.Errorf("no TOTP secret to match")
	}
	step := secrets.TOTPStep(g.now)
	o := g.op(s, accountActor(s.id))
	used, err := decided(a.UseTOTPCode(domain.UseTOTPCode{ChallengeID: s.challengeID, Match: &domain.TOTPMatch{SecretID: secretsOf[0].ID, Step: step}}, g.now, g.policy))
	if err != nil {
		return err
	}
	if err := o.toAccount(used); err != nil {
		return err
	}
	s.lastStep = step
	u, _ := used[0].(domain.TOTPCodeUsed)
	c, err := domain.LoadChallenge(s.challenge)
	if err != nil {
		return err
	}
	completed, err := decided(c.CompleteWithTOTP(domain.CompleteWithTOTP{SecretID: u.SecretID, Step: u.Step}, g.now))
	if err != nil {
		return err
	}
	return o.toChallenge(completed)
}

// redeem is the login page exchanging the passed challenge for a session
// (app.Service.RedeemChallenge).
func (g *generator) redeem(s *script) error {
	c, err := domain.LoadChallenge(s.challenge)
	if err != nil {
		return err
	}
	events, err := decided(c.Redeem(domain.RedeemChallenge{Purpose: domain.RedeemSession, AccountID: s.id, SessionDigest: g.sessionDigest()}, g.now))
	if err != nil {
		return err
	}
	return g.op(s, accountActor(s.id)).toChallenge(events)
}

// wrongPassword is a mistyped password from somewhere (app.Service.verify).
func (g *generator) wrongPassword(s *script) error {
	a, err := domain.LoadAccount(s.account)
	if err != nil {
		return err
	}
	src := domain.SourceOfIP(g.ip())
	if err := a.CheckSignIn(src, g.now); err != nil {
		return nil // locked out from there: nothing is checked, nothing written
	}
	events, err := decided(a.RecordFailedSignIn(domain.RecordFailedSignIn{Source: src}, g.now, g.policy))
	if err != nil {
		return err
	}
	return g.op(s, accountActor(s.id)).toAccount(events)
}

// signOut ends a session before its expiry (app.Service.SignOut).
func (g *generator) signOut(s *script) error {
	a, err := domain.LoadAccount(s.account)
	if err != nil {
		return err
	}
	events, err := decided(a.SignOut(domain.SignOut{SessionDigest: g.sessionDigest(), Until: g.now.Add(sessionLife)}, g.now))
	if err != nil {
		return err
	}
	return g.op(s, accountActor(s.id)).toAccount(events)
}

// ip is a client's address, from the documentation ranges.
func (g *generator) ip() string {
	if g.r.IntN(2) == 0 {
		return fmt.Sprintf("198.51.100.%d", 1+g.r.IntN(254))
	}
	return fmt.Sprintf("203.0.113.%d", 1+g.r.IntN(254))
}

// sessionDigest is the SHA-256 of a new session's ID.
func (g *generator) sessionDigest() []byte {
	var id [16]byte
	g.rng.Read(id[:])
	d := sha256.Sum256(id[:])
	return d[:]
}
