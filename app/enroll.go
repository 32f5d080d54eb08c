package app

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/secrets"
)

// deviceNamespace is the UUIDv5 namespace of device IDs.
var deviceNamespace = uuid.MustParse("6f1c4a5e-0d3b-4c1e-9a57-5a5e27d1c0de")

// DeviceID is the ID of the device that holds pub: a UUIDv5 of the key, so that a device
// linking a second account is recognised by its key alone and its stream is found without a
// read model.
func DeviceID(pub ed25519.PublicKey) uuid.UUID { return uuid.NewSHA1(deviceNamespace, pub) }

// StartEnrollment opens a single-use enrollment link for the account, valid for the policy's
// EnrollmentTTL. The token goes into the QR code; only its hash is stored.
func (s *Service) StartEnrollment(ctx context.Context, accountID uuid.UUID) (string, time.Time, error) {
	a, err := s.loadAccount(ctx, accountID)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("start enrollment: %w", err)
	}
	tok, err := domain.NewEnrollmentToken(s.rand)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("start enrollment: %w", err)
	}
	var expires time.Time
	o := s.op(ctx, accountActor(accountID))
	_, err = o.update(domain.EnrollmentStream(tok.ID()), func(events []domain.Event, now time.Time) (domain.Decision, error) {
		en, err := domain.LoadEnrollment(events)
		if err != nil {
			return domain.Decision{}, err
		}
		d := en.Start(domain.StartEnrollment{TokenID: tok.ID(), Account: a}, now, s.policy)
		if d.Err == nil {
			expires = now.Add(s.policy.EnrollmentTTL)
		}
		return d, nil
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("start enrollment: %w", err)
	}
	return tok.Reveal(), expires, nil
}

// EnrollmentResult is what a newly linked device receives, once.
type EnrollmentResult struct {
	AccountID uuid.UUID
	DeviceID  uuid.UUID
	// Email labels the account on the device.
	Email string
	// TOTPSecret is the device's TOTP secret for this account, in base32. It is returned only
	// here; the log holds it sealed.
	TOTPSecret string
	// MFAEnabled is true when this link turned 2FA on.
	MFAEnabled bool
	// BackupCodes are the first backup codes when this link turned 2FA on (show them once on
	// the security page); nil otherwise.
	BackupCodes []string
}

// CompleteEnrollment links the device holding pub to the enrollment's account: the
// enrollment is completed (single use; a late device gets domain.ErrEnrollmentExpired), the
// device is registered if new, and it is linked with a new sealed TOTP secret. The first link
// turns 2FA on and issues the first backup codes in the same append. A device whose earlier
// attempt completed the enrollment but did not link may call again.
func (s *Service) CompleteEnrollment(ctx context.Context, token string, pub ed25519.PublicKey, name, platform string) (EnrollmentResult, error) {
	tok, err := domain.ParseEnrollmentToken(token)
	if err != nil {
		return EnrollmentResult{}, fmt.Errorf("complete enrollment: %w", err)
	}
	ctx = correlated(ctx)
	deviceID := DeviceID(pub)
	o := s.op(ctx, deviceActor(deviceID))
	var en *domain.Enrollment
	_, err = o.update(domain.EnrollmentStream(tok.ID()), func(events []domain.Event, now time.Time) (domain.Decision, error) {
		cur, err := domain.LoadEnrollment(events)
		if err != nil {
			return domain.Decision{}, err
		}
		if cur.Exists() && cur.CompletedBy() == deviceID {
			en = cur // completed by this device before: go on to the link
			return domain.Decision{}, nil
		}
		d := cur.Complete(domain.CompleteEnrollment{DeviceID: deviceID, PublicKey: pub}, now)
		if d.Err == nil {
			en, err = domain.LoadEnrollment(append(events, d.Events...))
		}
		return d, err
	})
	if err != nil {
		return EnrollmentResult{}, fmt.Errorf("complete enrollment: %w", err)
	}
	dev, err := s.ensureDevice(o, pub, name, platform)
	if err != nil {
		return EnrollmentResult{}, fmt.Errorf("complete enrollment: %w", err)
	}
	res, err := s.link(o, en.AccountID(), func(a *domain.Account, sealed []byte, now time.Time) domain.Decision {
		return a.LinkDevice(domain.LinkDevice{Device: dev, Enrollment: en, SealedTOTPSecret: sealed}, now)
	})
	if err != nil {
		return EnrollmentResult{}, fmt.Errorf("complete enrollment: %w", err)
	}
	res.DeviceID = deviceID
	return res, nil
}

// ensureDevice registers the device of pub unless it exists, and returns it.
func (s *Service) ensureDevice(o *op, pub ed25519.PublicKey, name, platform string) (*domain.Device, error) {
	id := DeviceID(pub)
	var dev *domain.Device
	_, err := o.update(domain.DeviceStream(id), func(events []domain.Event, now time.Time) (domain.Decision, error) {
		cur, err := domain.LoadDevice(events)
		if err != nil || cur.Exists() {
			dev = cur
			return domain.Decision{}, err
		}
		d := cur.Register(domain.RegisterDevice{DeviceID: id, PublicKey: pub, Name: name, Platform: platform}, now)
		if d.Err == nil {
			dev, err = domain.LoadDevice(d.Events)
		}
		return d, err
	})
	if err != nil {
		return nil, err
	}
	return dev, nil
}

// link appends the link decision with a new sealed TOTP secret and, when 2FA is off, turns
// it on with the first backup codes in the same append.
func (s *Service) link(o *op, accountID uuid.UUID, decide func(a *domain.Account, sealed []byte, now time.Time) domain.Decision) (EnrollmentResult, error) {
	secret, err := secrets.NewTOTPSecret(s.rand)
	if err != nil {
		return EnrollmentResult{}, err
	}
	sealed, err := s.keyring.Seal(secret.Bytes(), accountID[:])
	if err != nil {
		return EnrollmentResult{}, err
	}
	codes, set, err := s.newBackupCodes()
	if err != nil {
		return EnrollmentResult{}, err
	}
	res := EnrollmentResult{AccountID: accountID, TOTPSecret: secret.Base32()}
	_, err = o.updateAccount(accountID, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		res.Email, res.MFAEnabled = a.Email().String(), !a.MFAEnabled()
		if res.Email == "" { // a user of an integration: labelled by its name
			res.Email = a.Username()
		}
		d := decide(a, sealed, now)
		if a.MFAEnabled() {
			return d, nil
		}
		return then(a, d, func(a *domain.Account) domain.Decision {
			return a.EnableMFA(domain.EnableMFA{BackupCodes: set}, now)
		})
	})
	if err != nil {
		return EnrollmentResult{}, err
	}
	if res.MFAEnabled {
		res.BackupCodes = codes
	}
	return res, nil
}

// newBackupCodes draws a set of backup codes: the codes to show once and their keyed hashes.
func (s *Service) newBackupCodes() ([]string, domain.BackupCodeSet, error) {
	codes, err := secrets.GenerateBackupCodes(s.rand)
	if err != nil {
		return nil, domain.BackupCodeSet{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, domain.BackupCodeSet{}, err
	}
	set := domain.BackupCodeSet{SetID: id}
	shown := make([]string, 0, len(codes))
	for _, c := range codes {
		set.Hashes = append(set.Hashes, s.hasher.Hash(c))
		shown = append(shown, c.Reveal())
	}
	return shown, set, nil
}

// PhoneLinkStart is the outcome of PhoneLinkBegin.
type PhoneLinkStart struct {
	AccountID uuid.UUID
	// Challenge is the challenge to pass first when 2FA is on (approve it on a linked device,
	// or complete it with a TOTP or backup code); nil when 2FA is off.
	Challenge *IssuedChallenge
}

// PhoneLinkBegin is the first step of linking a phone from the phone itself: the device
// signs in with the account's email and password (checked, recorded and locked out per source
// as in SignIn); when 2FA is on, a challenge is issued that must pass before PhoneLinkAuthorize.
func (s *Service) PhoneLinkBegin(ctx context.Context, email, password string, lc domain.LoginContext) (PhoneLinkStart, error) {
	ctx = correlated(ctx)
	a, err := s.checkPassword(ctx, email, password, domain.SourceOfIP(lc.IP))
	if err != nil {
		return PhoneLinkStart{}, fmt.Errorf("phone link: %w", err)
	}
	if !a.MFAEnabled() {
		return PhoneLinkStart{AccountID: a.ID()}, nil
	}
	ic, err := s.issueChallenge(s.op(ctx, accountActor(a.ID())), a.ID(), lc)
	if err != nil {
		return PhoneLinkStart{}, fmt.Errorf("phone link: %w", err)
	}
	return PhoneLinkStart{AccountID: a.ID(), Challenge: &ic}, nil
}

// PhoneLinkRequest is the person tapping Authorize on the phone. The device sends its
// credentials again (they are checked again: the server keeps no sign-in state).
type PhoneLinkRequest struct {
	Email     string
	Password  string
	PublicKey ed25519.PublicKey
	Name      string
	Platform  string
	// ChallengeID is PhoneLinkStart's challenge, passed at most the policy's EnrollmentTTL
	// ago; zero when 2FA is off.
	ChallengeID uuid.UUID
	// IP is the device's address: the source of the password check, as in SignIn.
	IP string
}

// PhoneLinkAuthorize links the phone after PhoneLinkBegin: the password is verified again,
// the device registered if new, and, when 2FA is on, the challenge must have passed
// (domain.ErrSecondFactorNeeded otherwise); it is spent on the link, once
// (domain.ErrChallengeRedeemed when it was already exchanged or spent). The first link turns 2FA on, as in
// CompleteEnrollment.
func (s *Service) PhoneLinkAuthorize(ctx context.Context, req PhoneLinkRequest) (EnrollmentResult, error) {
	ctx = correlated(ctx)
	a, err := s.checkPassword(ctx, req.Email, req.Password, domain.SourceOfIP(req.IP))
	if err != nil {
		return EnrollmentResult{}, fmt.Errorf("phone link: %w", err)
	}
	var second *domain.Challenge
	if req.ChallengeID != uuid.Nil {
		if second, err = s.loadChallenge(ctx, req.ChallengeID); err != nil {
			return EnrollmentResult{}, fmt.Errorf("phone link: %w", err)
		}
	}
	deviceID := DeviceID(req.PublicKey)
	o := s.op(ctx, deviceActor(deviceID))
	dev, err := s.ensureDevice(o, req.PublicKey, req.Name, req.Platform)
	if err != nil {
		return EnrollmentResult{}, fmt.Errorf("phone link: %w", err)
	}
	if second != nil {
		if err := s.spendOnPhoneLink(ctx, a.ID(), dev, second); err != nil {
			return EnrollmentResult{}, fmt.Errorf("phone link: %w", err)
		}
	}
	res, err := s.link(o, a.ID(), func(a *domain.Account, sealed []byte, now time.Time) domain.Decision {
		return a.AuthorizePhoneLink(domain.AuthorizePhoneLink{Device: dev, PasswordVerified: true, SecondFactor: second, SealedTOTPSecret: sealed}, now, s.policy)
	})
	if err != nil {
		return EnrollmentResult{}, fmt.Errorf("phone link: %w", err)
	}
	res.DeviceID = deviceID
	return res, nil
}

// spendOnPhoneLink redeems the second factor of a phone link when the account needs one, after
// checking that the account would take the link, so that a refusal leaves it unspent.
func (s *Service) spendOnPhoneLink(ctx context.Context, accountID uuid.UUID, dev *domain.Device, second *domain.Challenge) error {
	a, err := s.loadAccount(ctx, accountID)
	if err != nil {
		return err
	}
	if !a.MFAEnabled() {
		return nil
	}
	if d := a.AuthorizePhoneLink(domain.AuthorizePhoneLink{Device: dev, PasswordVerified: true, SecondFactor: second, SealedTOTPSecret: []byte{0}}, s.now(), s.policy); d.Err != nil {
		return d.Err
	}
	return s.RedeemChallenge(ctx, second.ID(), a.ID(), domain.RedeemPhoneLink, nil)
}
