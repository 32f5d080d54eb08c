package domain

import "fmt"

// Closed sets are struct enums: the zero value is invalid and only the listed values exist.

// FailureReason says which check failed. Every failure counts toward the lockout.
type FailureReason struct{ slug string }

// Failure reasons.
var (
	FailurePassword         = FailureReason{"password"}
	FailureWrongCode        = FailureReason{"wrong_code"}
	FailureReusedCode       = FailureReason{"reused_code"}
	FailureWrongBackupCode  = FailureReason{"wrong_backup_code"}
	FailureReusedBackupCode = FailureReason{"reused_backup_code"}
	FailureNumberMismatched = FailureReason{"number_mismatched"}
	FailureDenied           = FailureReason{"denied"}
	FailureFraudReported    = FailureReason{"fraud_reported"}
)

var failureReasons = []FailureReason{
	FailurePassword, FailureWrongCode, FailureReusedCode, FailureWrongBackupCode,
	FailureReusedBackupCode, FailureNumberMismatched, FailureDenied, FailureFraudReported,
}

func (r FailureReason) String() string { return r.slug }

// MarshalText encodes the reason's slug.
func (r FailureReason) MarshalText() ([]byte, error) { return marshalEnum(r.slug, "failure reason") }

// UnmarshalText accepts only a listed slug.
func (r *FailureReason) UnmarshalText(b []byte) error {
	return unmarshalEnum(b, failureReasons, r, "failure reason")
}

// CancelReason says why a challenge was cancelled.
type CancelReason struct{ slug string }

// Cancel reasons.
var (
	// CancelSuperseded: a newer challenge was issued for the same account.
	CancelSuperseded = CancelReason{"superseded"}
	// CancelAbandoned: the login page gave up.
	CancelAbandoned = CancelReason{"abandoned"}
	// CancelMFADisabled: the account turned two-factor authentication off.
	CancelMFADisabled = CancelReason{"mfa_disabled"}
	// CancelLocked: failed attempts locked the account's second factor.
	CancelLocked = CancelReason{"locked"}
)

var cancelReasons = []CancelReason{CancelSuperseded, CancelAbandoned, CancelMFADisabled, CancelLocked}

func (r CancelReason) String() string { return r.slug }

// MarshalText encodes the reason's slug.
func (r CancelReason) MarshalText() ([]byte, error) { return marshalEnum(r.slug, "cancel reason") }

// UnmarshalText accepts only a listed slug.
func (r *CancelReason) UnmarshalText(b []byte) error {
	return unmarshalEnum(b, cancelReasons, r, "cancel reason")
}

// LinkMethod says how a device was linked to an account.
type LinkMethod struct{ slug string }

// Link methods.
var (
	// LinkFromComputer: the device scanned an enrollment QR code.
	LinkFromComputer = LinkMethod{"computer"}
	// LinkFromPhone: the device signed in and the person tapped Authorize.
	LinkFromPhone = LinkMethod{"phone"}
)

var linkMethods = []LinkMethod{LinkFromComputer, LinkFromPhone}

func (m LinkMethod) String() string { return m.slug }

// MarshalText encodes the method's slug.
func (m LinkMethod) MarshalText() ([]byte, error) { return marshalEnum(m.slug, "link method") }

// UnmarshalText accepts only a listed slug.
func (m *LinkMethod) UnmarshalText(b []byte) error {
	return unmarshalEnum(b, linkMethods, m, "link method")
}

// RedeemPurpose says what a passed challenge was spent on. A challenge is spent once, on
// one purpose.
type RedeemPurpose struct{ slug string }

// Redeem purposes.
var (
	// RedeemSession: the browser that started the sign-in exchanged it for a session.
	RedeemSession = RedeemPurpose{"session"}
	// RedeemDisableMFA: the account proved its second factor to turn 2FA off.
	RedeemDisableMFA = RedeemPurpose{"disable_mfa"}
	// RedeemPhoneLink: the account proved its second factor to link a device from the phone.
	RedeemPhoneLink = RedeemPurpose{"phone_link"}
	// RedeemResumePush: the account proved its second factor to resume paused pushes.
	RedeemResumePush = RedeemPurpose{"resume_push"}
	// RedeemEraseAccount: the account proved its second factor to erase itself.
	RedeemEraseAccount = RedeemPurpose{"erase_account"}
)

var redeemPurposes = []RedeemPurpose{RedeemSession, RedeemDisableMFA, RedeemPhoneLink, RedeemResumePush, RedeemEraseAccount}

func (r RedeemPurpose) String() string { return r.slug }

// MarshalText encodes the purpose's slug.
func (r RedeemPurpose) MarshalText() ([]byte, error) { return marshalEnum(r.slug, "redeem purpose") }

// UnmarshalText accepts only a listed slug.
func (r *RedeemPurpose) UnmarshalText(b []byte) error {
	return unmarshalEnum(b, redeemPurposes, r, "redeem purpose")
}

// Answer is a device's answer to a challenge, as it signs it. Its slug is what the device
// socket and the HTTP answer route carry.
type Answer struct{ slug string }

// Answers.
var (
	AnswerApprove = Answer{"approve"}
	AnswerDeny    = Answer{"deny"}
	// AnswerFraud is "this wasn't me": a denial that also reports the sign-in as not made by
	// the account holder.
	AnswerFraud = Answer{"fraud"}
)

var answers = []Answer{AnswerApprove, AnswerDeny, AnswerFraud}

// Answers returns every answer, in a fixed order.
func Answers() []Answer { return append([]Answer(nil), answers...) }

func (a Answer) String() string { return a.slug }

// ParseAnswer returns the answer named by slug: approve, deny or fraud.
func ParseAnswer(slug string) (Answer, error) {
	for _, a := range answers {
		if a.slug == slug {
			return a, nil
		}
	}
	return Answer{}, fmt.Errorf("%w: answer must be approve, deny or fraud", ErrInvalidCommand)
}

// MarshalText encodes the answer's slug; the zero Answer is an error.
func (a Answer) MarshalText() ([]byte, error) { return marshalEnum(a.slug, "answer") }

// UnmarshalText accepts only an answer's slug.
func (a *Answer) UnmarshalText(b []byte) error { return unmarshalEnum(b, answers, a, "answer") }

func marshalEnum(slug, what string) ([]byte, error) {
	if slug == "" {
		return nil, fmt.Errorf("%w: empty %s", ErrInvalidCommand, what)
	}
	return []byte(slug), nil
}

func unmarshalEnum[E interface {
	comparable
	String() string
}](b []byte, all []E, dst *E, what string) error {
	for _, v := range all {
		if v.String() == string(b) {
			*dst = v
			return nil
		}
	}
	return fmt.Errorf("unknown %s %q", what, b)
}
