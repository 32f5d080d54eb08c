package projections

import (
	"bytes"
	"cmp"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// HistoryLimit is how many entries the history keeps per account: the newest ones. An older
// entry leaves the table as a newer one joins it.
const HistoryLimit = 100

// HistoryMethod says how a challenge was answered. The zero value: not answered (expired,
// cancelled, still pending).
type HistoryMethod struct{ slug string }

// History methods.
var (
	ViaPushApprove = HistoryMethod{"push_approve"} // approved on a device, with the number
	ViaPushDeny    = HistoryMethod{"push_deny"}    // denied on a device
	ViaPushFraud   = HistoryMethod{"push_fraud"}   // "This wasn't me" on a device
	ViaDeviceCode  = HistoryMethod{"device_code"}  // a linked device's offline TOTP code
	ViaTOTPApp     = HistoryMethod{"totp_app"}     // an authenticator app's TOTP code
	ViaBackupCode  = HistoryMethod{"backup_code"}  // one of the account's backup codes
	ViaBypassCode  = HistoryMethod{"bypass_code"}  // a bypass code (the help desk's, or an integration's)
	ViaPassword    = HistoryMethod{"password"}     // a sign-in with the password alone (no second factor)
)

var historyMethods = []HistoryMethod{ViaPushApprove, ViaPushDeny, ViaPushFraud, ViaDeviceCode, ViaTOTPApp, ViaBackupCode, ViaBypassCode, ViaPassword}

// String returns the method's stable slug, for APIs; "" when there is none.
func (m HistoryMethod) String() string { return m.slug }

// MarshalText makes the method its slug in rows.
func (m HistoryMethod) MarshalText() ([]byte, error) { return []byte(m.slug), nil }

// UnmarshalText reads a slug written by MarshalText; a slug it does not know (a newer
// server's, in shared tables) reads as none rather than failing the whole history.
func (m *HistoryMethod) UnmarshalText(b []byte) error {
	for _, v := range historyMethods {
		if v.slug == string(b) {
			*m = v
			return nil
		}
	}
	*m = HistoryMethod{}
	return nil
}

// Answer returns the device's answer a push method signs, and false for the other methods.
func (m HistoryMethod) Answer() (domain.Answer, bool) {
	switch m {
	case ViaPushApprove:
		return domain.AnswerApprove, true
	case ViaPushDeny:
		return domain.AnswerDeny, true
	case ViaPushFraud:
		return domain.AnswerFraud, true
	}
	return domain.Answer{}, false
}

// HistoryEntry is one sign-in or push of an account as its history lists it: a challenge
// (Kind "challenge") with what the sign-in told the device, how it was answered and its
// outcome, or a sign-in with the password alone (Kind "sign_in").
type HistoryEntry struct {
	ID        uuid.UUID // the challenge; zero for a sign-in without one
	Kind      string    // challenge or sign_in
	AccountID uuid.UUID
	At        time.Time // when it began
	// Context is what the challenge showed the devices: browser, IP, place, and for an
	// application's request its name. A sign-in without a challenge has UserAgent and IP only.
	Context       domain.LoginContext
	ContextDigest []byte                   `json:",omitempty"`
	Number        domain.MatchNumber       // the number of the login page
	Devices       []domain.ChallengeDevice `json:",omitempty"` // the devices it was pushed to, with their keys
	PushMuted     bool                     `json:",omitempty"`
	State         domain.ChallengeState    // pending or the outcome
	CancelReason  string                   `json:",omitempty"` // superseded, abandoned, mfa_disabled, locked
	DecidedAt     time.Time                `json:",omitzero"`
	Method        HistoryMethod            `json:",omitzero"`
	DeviceID      uuid.UUID                `json:",omitzero"`  // the device that answered
	SecretID      uuid.UUID                `json:",omitzero"`  // the device or app whose TOTP code passed it
	SignedNumber  domain.MatchNumber       `json:",omitempty"` // the number the device signed
	Signature     []byte                   `json:",omitempty"`
	Mismatches    int                      `json:",omitempty"` // signed approvals with a wrong number
	Redeemed      string                   `json:",omitempty"` // what the passed challenge was spent on: session, disable_mfa, ...
}

// Pushed reports whether the entry is a push: a challenge sent to at least one device.
func (e HistoryEntry) Pushed() bool { return len(e.Devices) > 0 }

// Check verifies the entry's signed answer, when it has one (domain.SignatureNone otherwise). The
// digest the device signed is recomputed from the entry's Context, so the check covers the
// browser, IP and place the entry shows; the key is the one the challenge was sent to the
// answering device under; an approval must carry the number of the login page.
func (e HistoryEntry) Check() domain.SignatureCheck {
	answer, ok := e.Method.Answer()
	if !ok {
		return domain.SignatureNone
	}
	digest := e.Context.Digest()
	if !bytes.Equal(digest[:], e.ContextDigest) {
		return domain.SignatureFailed
	}
	if answer == domain.AnswerApprove && e.SignedNumber != e.Number {
		return domain.SignatureFailed
	}
	i := slices.IndexFunc(e.Devices, func(d domain.ChallengeDevice) bool { return d.DeviceID == e.DeviceID })
	if i < 0 || !domain.VerifyAnswer(e.Devices[i].PublicKey, e.Signature, e.ID, answer, e.SignedNumber, digest[:]) {
		return domain.SignatureFailed
	}
	return domain.SignatureVerified
}

// History is the read model of each account's recent sign-ins and pushes, named "history":
// a row per entry in the table "history" (by challenge ID, or by session digest for a
// sign-in without a challenge) and a row per account in "historyaccounts" (its entries, oldest
// first, and the names of its devices and apps and its bypass code sets, which tell how a
// challenge was passed). It keeps the newest HistoryLimit entries of each account.
type History struct {
	core
}

// historyAccount is an account's row.
type historyAccount struct {
	Entries []historyRef         `json:",omitempty"` // oldest first
	Devices map[uuid.UUID]string `json:",omitempty"` // device ID: name, every device ever linked
	Apps    map[uuid.UUID]string `json:",omitempty"` // app ID: name, every app ever added
	Bypass  []uuid.UUID          `json:",omitempty"` // bypass code sets, newest last
}

type historyRef struct {
	Key []byte
	At  time.Time
}

// maxBypassSets bounds the bypass code sets an account's row remembers: a set replaces the
// one before, so only a code of a recent set can pass a challenge.
const maxBypassSets = 10

// NewHistory returns an empty history read model in memory.
func NewHistory() *History { return newHistory(NewMemoryStore()) }

func newHistory(store Store) *History {
	p := &History{core: newCore("history", store, []string{"history", "historyaccounts"}, typesOf(
		domain.ChallengeIssued{}, domain.ChallengeApproved{}, domain.ChallengeDenied{}, domain.FraudReported{},
		domain.NumberMismatched{}, domain.ChallengeExpired{}, domain.ChallengeCancelled{}, domain.ChallengeCompletedTOTP{},
		domain.ChallengeCompletedBackupCode{}, domain.ChallengeRedeemed{}, domain.SessionStarted{},
		domain.DeviceLinked{}, domain.DeviceRenamed{}, domain.TOTPAppAdded{}, domain.TOTPAppRenamed{}, domain.BypassCodesIssued{},
		domain.AccountErased{},
	)...)}
	p.core.fold = foldHistory
	return p
}

// Apply folds one event; see Projection.
func (p *History) Apply(ev eventstore.RecordedEvent) error { return applyOne(p, ev) }

// HistoryNames are the names an account gave its devices and apps, for the entries.
type HistoryNames struct {
	Devices map[uuid.UUID]string
	Apps    map[uuid.UUID]string
}

// ForAccount returns the account's entries, newest first, with the names of its devices and
// apps; an account without history has none. It fails only if the store does.
func (p *History) ForAccount(account uuid.UUID) ([]HistoryEntry, HistoryNames, error) {
	acc, err := getRow[historyAccount](p.store, "historyaccounts", account[:])
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, HistoryNames{}, nil
		}
		return nil, HistoryNames{}, err
	}
	out := make([]HistoryEntry, 0, len(acc.Entries))
	for _, r := range acc.Entries {
		e, err := getRow[HistoryEntry](p.store, "history", r.Key)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, HistoryNames{}, err
		}
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b HistoryEntry) int { return cmp.Compare(b.At.UnixNano(), a.At.UnixNano()) })
	return out, HistoryNames{Devices: acc.Devices, Apps: acc.Apps}, nil
}

func foldHistory(b *batch, _ eventstore.RecordedEvent, e domain.Event) error {
	switch e := e.(type) {
	case domain.ChallengeIssued:
		entry := &HistoryEntry{ID: e.ChallengeID, Kind: "challenge", AccountID: e.AccountID, At: e.At, Context: e.Context,
			ContextDigest: slices.Clone(e.ContextDigest), Number: e.Number, Devices: slices.Clone(e.Devices), PushMuted: e.PushMuted, State: domain.StatePending}
		return addHistory(b, e.AccountID, e.ChallengeID[:], e.At, entry)
	case domain.SessionStarted:
		if e.ChallengeID != uuid.Nil || len(e.SessionDigest) == 0 {
			return nil // the challenge's entry tells this sign-in
		}
		entry := &HistoryEntry{Kind: "sign_in", AccountID: e.AccountID, At: e.At, Context: domain.LoginContext{UserAgent: e.UserAgent, IP: e.IP, At: e.At},
			State: domain.StateOf(domain.OutcomeApproved), DecidedAt: e.At, Method: ViaPassword, Redeemed: domain.RedeemSession.String()}
		return addHistory(b, e.AccountID, e.SessionDigest, e.At, entry)
	case domain.ChallengeApproved:
		return decideHistory(b, e, e.At, func(h *HistoryEntry) {
			h.Method, h.DeviceID, h.SignedNumber, h.Signature = ViaPushApprove, e.DeviceID, e.Number, slices.Clone(e.Signature)
		})
	case domain.ChallengeDenied:
		return decideHistory(b, e, e.At, func(h *HistoryEntry) {
			h.Method, h.DeviceID, h.Signature = ViaPushDeny, e.DeviceID, slices.Clone(e.Signature)
		})
	case domain.FraudReported:
		return decideHistory(b, e, e.At, func(h *HistoryEntry) {
			h.Method, h.DeviceID, h.Signature = ViaPushFraud, e.DeviceID, slices.Clone(e.Signature)
		})
	case domain.ChallengeExpired:
		return decideHistory(b, e, e.At, nil)
	case domain.ChallengeCancelled:
		return decideHistory(b, e, e.At, func(h *HistoryEntry) { h.CancelReason = e.Reason.String() })
	case domain.ChallengeCompletedTOTP:
		acc, err := loadHistoryAccount(b, e.AccountID)
		if err != nil {
			return err
		}
		m := ViaTOTPApp
		if _, ok := acc.Devices[e.SecretID]; ok {
			m = ViaDeviceCode
		}
		return decideHistory(b, e, e.At, func(h *HistoryEntry) { h.Method, h.SecretID = m, e.SecretID })
	case domain.ChallengeCompletedBackupCode:
		acc, err := loadHistoryAccount(b, e.AccountID)
		if err != nil {
			return err
		}
		m := ViaBackupCode
		if slices.Contains(acc.Bypass, e.SetID) {
			m = ViaBypassCode
		}
		return decideHistory(b, e, e.At, func(h *HistoryEntry) { h.Method = m })
	case domain.NumberMismatched:
		h, err := load[HistoryEntry](b, "history", e.ChallengeID[:])
		if err != nil || h == nil {
			return err
		}
		h.Mismatches++
		b.put("history", e.ChallengeID[:], "", 0, h)
	case domain.ChallengeRedeemed:
		h, err := load[HistoryEntry](b, "history", e.ChallengeID[:])
		if err != nil || h == nil {
			return err
		}
		h.Redeemed = e.Purpose.String()
		b.put("history", e.ChallengeID[:], "", 0, h)
	case domain.DeviceLinked:
		return nameHistory(b, e.AccountID, func(a *historyAccount) { a.Devices = named(a.Devices, e.DeviceID, e.Name) })
	case domain.DeviceRenamed:
		return nameHistory(b, e.AccountID, func(a *historyAccount) { a.Devices = named(a.Devices, e.DeviceID, e.Name) })
	case domain.TOTPAppAdded:
		return nameHistory(b, e.AccountID, func(a *historyAccount) { a.Apps = named(a.Apps, e.AppID, e.Name) })
	case domain.TOTPAppRenamed:
		return nameHistory(b, e.AccountID, func(a *historyAccount) { a.Apps = named(a.Apps, e.AppID, e.Name) })
	case domain.AccountErased:
		return eraseHistory(b, e.AccountID)
	case domain.BypassCodesIssued:
		return nameHistory(b, e.AccountID, func(a *historyAccount) {
			a.Bypass = append(a.Bypass, e.SetID)
			if len(a.Bypass) > maxBypassSets {
				a.Bypass = slices.Delete(a.Bypass, 0, len(a.Bypass)-maxBypassSets)
			}
		})
	}
	return nil
}

// eraseHistory drops an erased account's entries and names: they hold its IP addresses, browsers
// and device names, which erasure makes unreadable everywhere.
func eraseHistory(b *batch, account uuid.UUID) error {
	acc, err := load[historyAccount](b, "historyaccounts", account[:])
	if err != nil || acc == nil {
		return err
	}
	for _, r := range acc.Entries {
		b.del("history", r.Key)
	}
	b.del("historyaccounts", account[:])
	return nil
}

func named(m map[uuid.UUID]string, id uuid.UUID, name string) map[uuid.UUID]string {
	if m == nil {
		m = map[uuid.UUID]string{}
	}
	m[id] = name
	return m
}

// addHistory writes a new entry and adds it to its account's list, dropping the oldest
// entries past HistoryLimit.
func addHistory(b *batch, account uuid.UUID, key []byte, at time.Time, entry *HistoryEntry) error {
	acc, err := loadHistoryAccount(b, account)
	if err != nil {
		return err
	}
	b.create("history", key, "", 0, entry)
	acc.Entries = append(acc.Entries, historyRef{Key: slices.Clone(key), At: at})
	if n := len(acc.Entries) - HistoryLimit; n > 0 {
		for _, r := range acc.Entries[:n] {
			b.del("history", r.Key)
		}
		acc.Entries = slices.Delete(acc.Entries, 0, n)
	}
	b.put("historyaccounts", account[:], "", 0, acc)
	return nil
}

// decideHistory records the outcome a final event states; a challenge the history does not hold (one
// that left it, or one older than the model) is passed over.
func decideHistory(b *batch, e domain.FinalEvent, at time.Time, set func(*HistoryEntry)) error {
	challenge := e.OfChallenge()
	h, err := load[HistoryEntry](b, "history", challenge[:])
	if err != nil || h == nil || h.State.Final() {
		return err
	}
	h.State, h.DecidedAt = domain.StateOf(e.Outcome()), at
	if set != nil {
		set(h)
	}
	b.put("history", challenge[:], "", 0, h)
	return nil
}

func nameHistory(b *batch, account uuid.UUID, change func(*historyAccount)) error {
	acc, err := loadHistoryAccount(b, account)
	if err != nil {
		return err
	}
	change(acc)
	b.put("historyaccounts", account[:], "", 0, acc)
	return nil
}

func loadHistoryAccount(b *batch, account uuid.UUID) (*historyAccount, error) {
	acc, err := load[historyAccount](b, "historyaccounts", account[:])
	if err != nil || acc != nil {
		return acc, err
	}
	return &historyAccount{}, nil
}
