package domain

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// RegisterAccount creates an account. PasswordHash is an argon2id PHC string computed by
// the caller (secrets.Argon2Params.Hash); the password itself never reaches the domain.
// The email must first be claimed in its own stream (EmailClaim.Claim).
type RegisterAccount struct {
	AccountID    uuid.UUID
	Email        Email
	PasswordHash string
}

// ChangePassword replaces the password hash.
type ChangePassword struct {
	PasswordHash string
}

// SignOut ends a session of the account before it expires. SessionDigest is the SHA-256 of
// the session's ID; Until is when the session would have expired.
type SignOut struct {
	SessionDigest []byte
	Until         time.Time
}

// RecordFailedSignIn records a wrong password from Source, checked by the caller.
type RecordFailedSignIn struct{ Source SignInSource }

// EnableMFA turns two-factor authentication on and issues the first set of backup codes.
type EnableMFA struct {
	BackupCodes BackupCodeSet
}

// DisableMFA turns two-factor authentication off: every device is unlinked, TOTP apps and
// backup codes are dropped.
type DisableMFA struct{}

// IssueChallenge opens a challenge after a correct password, when 2FA is on. Number comes
// from NewMatchNumber; Context.At, when zero, is now.
type IssueChallenge struct {
	ChallengeID uuid.UUID
	Number      MatchNumber
	Context     LoginContext
	// The fields below serve the Duo-compatible Auth API; they are zero for Assent's pages.

	// OnlyDevice, when set, pushes to that linked device alone (ErrDeviceNotLinked otherwise).
	OnlyDevice uuid.UUID
	// NoPush issues the challenge to be completed with a code: no device is asked.
	NoPush bool
}

// RecordChallengeFailure mirrors into the account a failure recorded in a challenge
// stream: FailureNumberMismatched, FailureDenied or FailureFraudReported. A fraud report
// also mutes pushes.
type RecordChallengeFailure struct {
	ChallengeID uuid.UUID
	DeviceID    uuid.UUID
	Reason      FailureReason
}

// Register decides RegisterAccount. It refuses an account that exists.
func (a *Account) Register(cmd RegisterAccount, now time.Time) Decision {
	switch {
	case a.Exists():
		return refuse(ErrAccountExists)
	case cmd.AccountID == uuid.Nil || cmd.Email.IsZero():
		return refuse(fmt.Errorf("register account: %w: account ID and email are required", ErrInvalidCommand))
	case !isPasswordHash(cmd.PasswordHash):
		return refuse(fmt.Errorf("register account: %w: password hash must be an argon2id PHC string", ErrInvalidCommand))
	}
	return accept(AccountRegistered{AccountID: cmd.AccountID, Email: cmd.Email, PasswordHash: cmd.PasswordHash, At: now})
}

// ChangePassword decides ChangePassword.
func (a *Account) ChangePassword(cmd ChangePassword, now time.Time) Decision {
	if !a.Exists() {
		return refuse(ErrAccountNotFound)
	}
	if !isPasswordHash(cmd.PasswordHash) {
		return refuse(fmt.Errorf("change password: %w: password hash must be an argon2id PHC string", ErrInvalidCommand))
	}
	return accept(PasswordChanged{AccountID: a.id, PasswordHash: cmd.PasswordHash, At: now})
}

// RecordFailedSignIn records a wrong password and, when the source's failures reach the
// threshold within the window, locks passwords from that source out of the account
// (SignInLocked). Wrong passwords do not lock the second factor: nobody who merely knows the
// email can lock its owner out. The caller returns its own "wrong password" error: Err is nil.
func (a *Account) RecordFailedSignIn(cmd RecordFailedSignIn, now time.Time, p Policy) Decision {
	if !a.Exists() {
		return refuse(ErrAccountNotFound)
	}
	if cmd.Source == "" {
		return refuse(fmt.Errorf("record failed sign-in: %w: a source is required", ErrInvalidCommand))
	}
	return accept(a.signInFailed(cmd.Source, now, p)...)
}

// SignOut decides SignOut: a session that has expired already needs no event.
func (a *Account) SignOut(cmd SignOut, now time.Time) Decision {
	switch {
	case !a.Exists():
		return refuse(ErrAccountNotFound)
	case len(cmd.SessionDigest) != sha256.Size:
		return refuse(fmt.Errorf("sign out: %w: the session digest must be %d bytes", ErrInvalidCommand, sha256.Size))
	case !now.Before(cmd.Until):
		return accept()
	}
	return accept(SignedOut{AccountID: a.id, SessionDigest: slices.Clone(cmd.SessionDigest), Until: cmd.Until, At: now})
}

// EnableMFA decides EnableMFA: it needs a linked device or a confirmed TOTP app.
func (a *Account) EnableMFA(cmd EnableMFA, now time.Time) Decision {
	switch {
	case !a.Exists():
		return refuse(ErrAccountNotFound)
	case a.mfa:
		return refuse(ErrMFAAlreadyEnabled)
	case !a.hasSecondFactor():
		return refuse(ErrNoSecondFactor)
	}
	if err := cmd.BackupCodes.validate(); err != nil {
		return refuse(fmt.Errorf("enable mfa: %w", err))
	}
	return accept(
		MFAEnabled{AccountID: a.id, At: now},
		BackupCodesIssued{AccountID: a.id, SetID: cmd.BackupCodes.SetID, Hashes: cmd.BackupCodes.Hashes, At: now},
	)
}

// DisableMFA decides DisableMFA. It is refused while the second factor is locked.
func (a *Account) DisableMFA(_ DisableMFA, now time.Time) Decision {
	switch {
	case !a.Exists():
		return refuse(ErrAccountNotFound)
	case !a.mfa:
		return refuse(ErrMFANotEnabled)
	}
	if locked, _ := a.Locked(now); locked {
		return refuse(a.lockedErr())
	}
	var events []Event
	for _, d := range a.devices {
		events = append(events, DeviceUnlinked{AccountID: a.id, DeviceID: d.id, At: now})
	}
	return accept(append(events, MFADisabled{AccountID: a.id, At: now})...)
}

// ChallengeIssue is the outcome of IssueChallenge, which touches two streams. The caller
// appends AccountEvents to the account stream first (at the version it loaded: this
// serializes concurrent sign-ins), then ChallengeEvents to ChallengeStream(ChallengeID)
// with expected version "no stream", then, when Superseded is set, cancels that challenge
// with CancelChallenge{Reason: CancelSuperseded} (ErrChallengeAlreadyDecided there is fine).
type ChallengeIssue struct {
	ChallengeID     uuid.UUID
	AccountEvents   []Event
	ChallengeEvents []Event
	Superseded      uuid.UUID
}

// IssueChallenge decides IssueChallenge. The challenge lists the devices linked now, with
// their public keys, unless pushes are muted; it expires after p.ChallengeTTL.
func (a *Account) IssueChallenge(cmd IssueChallenge, now time.Time, p Policy) (ChallengeIssue, error) {
	switch {
	case !a.Exists():
		return ChallengeIssue{}, ErrAccountNotFound
	case !a.mfa:
		return ChallengeIssue{}, ErrMFANotEnabled
	case a.disabled:
		return ChallengeIssue{}, ErrAccountDisabled
	}
	if locked, _ := a.Locked(now); locked {
		return ChallengeIssue{}, a.lockedErr()
	}
	ctx, err := cmd.validate(now)
	if err != nil {
		return ChallengeIssue{}, fmt.Errorf("issue challenge: %w", err)
	}
	superseded, _ := a.PendingChallenge(now)
	expires := now.Add(p.ChallengeTTL)
	muted, _ := a.PushMuted(now)
	if cmd.OnlyDevice != uuid.Nil && a.device(cmd.OnlyDevice) == nil {
		return ChallengeIssue{}, ErrDeviceNotLinked
	}
	devices := []ChallengeDevice{}
	if !muted && !cmd.NoPush {
		for _, d := range a.devices {
			if cmd.OnlyDevice == uuid.Nil || cmd.OnlyDevice == d.id {
				devices = append(devices, ChallengeDevice{DeviceID: d.id, PublicKey: d.publicKey})
			}
		}
	}
	digest := ctx.Digest()
	return ChallengeIssue{
		ChallengeID:   cmd.ChallengeID,
		AccountEvents: []Event{SignInChallenged{AccountID: a.id, ChallengeID: cmd.ChallengeID, Superseded: superseded, ExpiresAt: expires, At: now}},
		ChallengeEvents: []Event{ChallengeIssued{
			ChallengeID: cmd.ChallengeID, AccountID: a.id, Number: cmd.Number, Context: ctx,
			ContextDigest: digest[:], Devices: devices, PushMuted: muted, ExpiresAt: expires, At: now,
		}},
		Superseded: superseded,
	}, nil
}

func (cmd IssueChallenge) validate(now time.Time) (LoginContext, error) {
	ctx := cmd.Context
	if ctx.At.IsZero() {
		ctx.At = now
	}
	ctx.At = ctx.At.UTC().Truncate(time.Second)
	ctx.IssuedAt = now.UTC()
	switch {
	case cmd.ChallengeID == uuid.Nil:
		return ctx, fmt.Errorf("%w: challenge ID is required", ErrInvalidCommand)
	case ctx.NoNumber && cmd.Number != 0:
		return ctx, fmt.Errorf("%w: a challenge without number matching has the number 0", ErrInvalidNumber)
	case !ctx.NoNumber && !cmd.Number.Valid():
		return ctx, fmt.Errorf("%w: number must be from 10 to 99", ErrInvalidNumber)
	case len(ctx.UserAgent) > 512 || !utf8.ValidString(ctx.UserAgent):
		return ctx, fmt.Errorf("%w: user agent must be valid UTF-8 of at most 512 bytes", ErrInvalidCommand)
	case len(ctx.Place) > 128 || !utf8.ValidString(ctx.Place):
		return ctx, fmt.Errorf("%w: place must be valid UTF-8 of at most 128 bytes", ErrInvalidCommand)
	case ctx.LinkingDevice != "" && !validName(ctx.LinkingDevice, 100):
		return ctx, fmt.Errorf("%w: the name of the device being linked must have 1 to 100 printable characters", ErrInvalidCommand)
	}
	if err := ctx.validateIntegration(); err != nil {
		return ctx, err
	}
	if ctx.IP == "" && ctx.App != "" {
		return ctx, nil // an application need not tell the IP address (Duo's ipaddr is optional)
	}
	ip, err := netip.ParseAddr(ctx.IP)
	if err != nil {
		return ctx, fmt.Errorf("%w: IP address is not valid", ErrInvalidCommand)
	}
	ctx.IP = ip.Unmap().String()
	return ctx, nil
}

// RecordChallengeFailure decides RecordChallengeFailure.
func (a *Account) RecordChallengeFailure(cmd RecordChallengeFailure, now time.Time, p Policy) Decision {
	if !a.Exists() {
		return refuse(ErrAccountNotFound)
	}
	switch cmd.Reason {
	case FailureNumberMismatched, FailureDenied, FailureFraudReported:
	default:
		return refuse(fmt.Errorf("record challenge failure: %w: reason %q is not a challenge failure", ErrInvalidCommand, cmd.Reason))
	}
	events := a.failure(ChallengeFailed{AccountID: a.id, ChallengeID: cmd.ChallengeID, DeviceID: cmd.DeviceID, Reason: cmd.Reason, At: now}, now, p)
	if cmd.Reason == FailureFraudReported {
		events = append(events, PushMuted{AccountID: a.id, ChallengeID: cmd.ChallengeID, Until: now.Add(p.PushMuteDuration), At: now})
	}
	return accept(events...)
}

// failure returns the failure event followed, when it reaches the threshold within the
// window and the account is not already locked, by an MFALocked event.
func (a *Account) failure(e Event, now time.Time, p Policy) []Event {
	events := []Event{e}
	if locked, _ := a.Locked(now); locked {
		return events
	}
	if count := a.recentFailures(now, p) + 1; count >= p.LockoutThreshold {
		events = append(events, MFALocked{AccountID: a.id, Failures: count, Until: now.Add(p.LockoutDuration), At: now})
	}
	return events
}

// isPasswordHash checks the shape of an argon2id PHC string; the caller made it with
// package secrets, which parses it fully.
func isPasswordHash(s string) bool {
	return strings.HasPrefix(s, "$argon2id$v=19$") && strings.Count(s, "$") == 5 && len(s) < 1024
}

// validName checks a human-given name: 1 to max characters, trimmed, printable.
func validName(s string, max int) bool {
	if s == "" || s != strings.TrimSpace(s) || !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
