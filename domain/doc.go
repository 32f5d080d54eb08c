// Package domain is Assent's pure core: the events of accounts, devices, enrollments and
// challenges, the one registry that encodes and decodes them, the aggregates folded from
// them, and the decisions that turn a command into new events or a refusal.
//
// Nothing here does I/O or reads a clock: time comes in as now, randomness as values or an
// io.Reader. Costly or keyed checks (argon2id passwords, opening sealed TOTP secrets, keyed
// backup-code hashes) are done by the caller with package secrets and passed in as facts;
// Ed25519 signatures of devices are verified here, because they are keyless, cheap and the
// heart of what an auditor replays.
//
// The application layer calls it the same way for every command:
//
//	events := load the stream, decode each with Decode
//	agg, err := LoadAccount(events)          // or LoadDevice, LoadChallenge, ...
//	d := agg.UseTOTPCode(cmd, now, policy)   // a Decision
//	append d.Events with the version it loaded (if any), then return d.Err
//
// On an append conflict it reloads and decides again.
package domain

import "errors"

// Errors returned by decisions and parsers. Check them with errors.Is; messages never hold
// a secret.
var (
	ErrInvalidCommand = errors.New("invalid command")

	ErrInvalidEmail           = errors.New("invalid email")
	ErrInvalidNumber          = errors.New("invalid number")
	ErrInvalidEnrollmentToken = errors.New("invalid enrollment token")

	ErrEmailTaken         = errors.New("email already registered")
	ErrAccountExists      = errors.New("account already exists")
	ErrAccountNotFound    = errors.New("account not found")
	ErrMFAAlreadyEnabled  = errors.New("two-factor authentication already enabled")
	ErrMFANotEnabled      = errors.New("two-factor authentication not enabled")
	ErrNoSecondFactor     = errors.New("no confirmed second factor")
	ErrLocked             = errors.New("second factor locked")
	ErrSignInLocked       = errors.New("sign-in from this source locked")
	ErrPasswordNotChecked = errors.New("password not verified")
	ErrSecondFactorNeeded = errors.New("second factor required")
	ErrLastSecondFactor   = errors.New("last second factor")

	ErrReasonRequired     = errors.New("a written reason is required")
	ErrInvalidReason      = errors.New("invalid reason")
	ErrNotLocked          = errors.New("account not locked")
	ErrAccountDisabled    = errors.New("account disabled")
	ErrAccountNotDisabled = errors.New("account not disabled")
	ErrResetExpired       = errors.New("time to set up a new second factor is over")

	ErrDeviceExists        = errors.New("device already registered")
	ErrDeviceNotFound      = errors.New("device not found")
	ErrDeviceAlreadyLinked = errors.New("device already linked")
	ErrDeviceNotLinked     = errors.New("device not linked")

	ErrEnrollmentNotFound = errors.New("enrollment not found")
	ErrEnrollmentExists   = errors.New("enrollment already started")
	ErrEnrollmentExpired  = errors.New("enrollment expired")
	ErrEnrollmentUsed     = errors.New("enrollment already used")

	ErrTOTPAppNotFound         = errors.New("totp app not found")
	ErrTOTPAppAlreadyConfirmed = errors.New("totp app already confirmed")

	ErrWrongCode   = errors.New("wrong code")
	ErrCodeReused  = errors.New("code already used")
	ErrNoBackupSet = errors.New("no backup codes")

	ErrChallengeNotFound       = errors.New("challenge not found")
	ErrChallengeNotPending     = errors.New("challenge is not the account's pending challenge")
	ErrChallengeAlreadyDecided = errors.New("challenge already decided")
	ErrChallengeExpired        = errors.New("challenge expired")
	ErrChallengeNotExpired     = errors.New("challenge not yet expired")
	ErrChallengeRedeemed       = errors.New("challenge already redeemed")
	ErrChallengeLocked         = errors.New("challenge ended by a lockout")
	ErrWrongNumber             = errors.New("wrong number")
	ErrBadSignature            = errors.New("bad device signature")
)
