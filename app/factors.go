package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/secrets"
)

// totpAppName names the TOTP apps AddTOTPApp adds.
const totpAppName = "Authenticator app"

// AddTOTPApp offers a standard authenticator app a new secret. It returns the otpauth:// URI
// to show as a QR code (it holds the secret: show it once, never log it) and the app's ID,
// which ConfirmTOTPApp takes with the app's first code. The URI names the account by its
// email, or an integration user (who has none) by its username.
func (s *Service) AddTOTPApp(ctx context.Context, accountID uuid.UUID) (string, uuid.UUID, error) {
	secret, err := secrets.NewTOTPSecret(s.rand)
	if err != nil {
		return "", uuid.Nil, fmt.Errorf("add totp app: %w", err)
	}
	sealed, err := s.keyring.Seal(secret.Bytes(), accountID[:])
	if err != nil {
		return "", uuid.Nil, fmt.Errorf("add totp app: %w", err)
	}
	appID, err := uuid.NewV7()
	if err != nil {
		return "", uuid.Nil, fmt.Errorf("add totp app: %w", err)
	}
	var email string
	_, err = s.op(ctx, accountActor(accountID)).updateAccount(accountID, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		if email = a.Email().String(); email == "" {
			email = a.Username()
		}
		return a.AddTOTPApp(domain.AddTOTPApp{AppID: appID, Name: totpAppName, SealedSecret: sealed}, now), nil
	})
	if err != nil {
		return "", uuid.Nil, fmt.Errorf("add totp app: %w", err)
	}
	uri, err := secret.URI(email)
	if err != nil {
		return "", uuid.Nil, fmt.Errorf("add totp app: %w", err)
	}
	return uri, appID, nil
}

// ConfirmTOTPApp confirms an app with its first code. A wrong code is recorded and returns
// domain.ErrWrongCode. When 2FA was off, confirming turns it on and returns the first backup
// codes (show them once); otherwise the codes are nil.
func (s *Service) ConfirmTOTPApp(ctx context.Context, accountID, secretID uuid.UUID, code string) ([]string, error) {
	codes, set, err := s.newBackupCodes()
	if err != nil {
		return nil, fmt.Errorf("confirm totp app: %w", err)
	}
	enabled := false
	var lockedOut uuid.UUID // the pending challenge a lock ends
	o := s.op(ctx, accountActor(accountID))
	_, err = o.updateAccount(accountID, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		var match *domain.TOTPMatch
		if sealed, ok := a.UnconfirmedTOTPApp(secretID); ok {
			m, err := s.match(accountID, []domain.SealedTOTPSecret{sealed}, code, now)
			if err != nil {
				return domain.Decision{}, err
			}
			match = m
		}
		d := a.ConfirmTOTPApp(domain.ConfirmTOTPApp{AppID: secretID, Match: match}, now, s.policy)
		if lockedOut = uuid.Nil; locks(d) {
			lockedOut, _ = a.PendingChallenge(now)
		}
		enabled = !a.MFAEnabled()
		if !enabled {
			return d, nil
		}
		return then(a, d, func(a *domain.Account) domain.Decision {
			return a.EnableMFA(domain.EnableMFA{BackupCodes: set}, now)
		})
	})
	if lockedOut != uuid.Nil {
		err = errors.Join(err, s.cancel(o, lockedOut, domain.CancelLocked))
	}
	if err != nil {
		return nil, fmt.Errorf("confirm totp app: %w", err)
	}
	if enabled {
		return codes, nil
	}
	return nil, nil
}

// match opens each sealed secret and returns the first that code matches at now, or nil.
func (s *Service) match(accountID uuid.UUID, sealed []domain.SealedTOTPSecret, code string, now time.Time) (*domain.TOTPMatch, error) {
	for _, sec := range sealed {
		raw, err := s.keyring.Open(sec.Sealed, accountID[:])
		if err != nil {
			return nil, fmt.Errorf("open totp secret: %w", err)
		}
		secret, err := secrets.TOTPSecretFromBytes(raw)
		if err != nil {
			return nil, err
		}
		if step, ok := secret.Match(code, now); ok {
			return &domain.TOTPMatch{SecretID: sec.ID, Step: step}, nil
		}
	}
	return nil, nil
}

// IssueBackupCodes replaces the account's backup codes with a new set, which revokes the old
// one, and returns the new codes to show once. 2FA must be on.
func (s *Service) IssueBackupCodes(ctx context.Context, accountID uuid.UUID) ([]string, error) {
	codes, set, err := s.newBackupCodes()
	if err != nil {
		return nil, fmt.Errorf("issue backup codes: %w", err)
	}
	_, err = s.op(ctx, accountActor(accountID)).updateAccount(accountID, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		return a.IssueBackupCodes(domain.IssueBackupCodes{Set: set}, now), nil
	})
	if err != nil {
		return nil, fmt.Errorf("issue backup codes: %w", err)
	}
	return codes, nil
}

// UnlinkDevice unlinks one device from the account (device.unlinked: its session for the
// account is closed and it gets no further challenge for it). With 2FA on, the last second
// factor is not unlinked (domain.ErrLastSecondFactor): DisableMFA removes it, with its proof.
func (s *Service) UnlinkDevice(ctx context.Context, accountID, deviceID uuid.UUID) error {
	_, err := s.op(ctx, accountActor(accountID)).updateAccount(accountID, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		return a.UnlinkDevice(domain.UnlinkDevice{DeviceID: deviceID}, now), nil
	})
	if err != nil {
		return fmt.Errorf("unlink device: %w", err)
	}
	return nil
}

// UnlinkAllDevices turns the app method off: every device is unlinked. Without a confirmed
// TOTP app that would leave no second factor, and it is refused (domain.ErrLastSecondFactor).
func (s *Service) UnlinkAllDevices(ctx context.Context, accountID uuid.UUID) error {
	_, err := s.op(ctx, accountActor(accountID)).updateAccount(accountID, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		return a.UnlinkAllDevices(domain.UnlinkAllDevices{}, now), nil
	})
	if err != nil {
		return fmt.Errorf("unlink all devices: %w", err)
	}
	return nil
}

// DisableMFA turns 2FA off (every device unlinked, TOTP apps and backup codes dropped) and
// cancels the account's pending challenge. It needs a fresh second factor: challengeID must
// be a challenge of this account that passed at most domain.RedeemWindow ago
// (domain.ErrSecondFactorNeeded otherwise), and the second factor must not be locked. The
// challenge is spent on it (RedeemChallenge): a challenge already exchanged for a session or
// spent on another step-up gives domain.ErrChallengeRedeemed. The account is checked first,
// so that a refusal of the account leaves the challenge unspent.
func (s *Service) DisableMFA(ctx context.Context, accountID, challengeID uuid.UUID) error {
	ctx = correlated(ctx)
	a, err := s.loadAccount(ctx, accountID)
	if err != nil {
		return fmt.Errorf("disable mfa: %w", err)
	}
	if d := a.DisableMFA(domain.DisableMFA{}, s.now()); d.Err != nil {
		return fmt.Errorf("disable mfa: %w", d.Err)
	}
	if err := s.RedeemChallenge(ctx, challengeID, accountID, domain.RedeemDisableMFA, nil); err != nil {
		return fmt.Errorf("disable mfa: %w", err)
	}
	o := s.op(ctx, accountActor(accountID))
	var pending uuid.UUID
	_, err = o.updateAccount(accountID, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		pending, _ = a.PendingChallenge(now)
		return a.DisableMFA(domain.DisableMFA{}, now), nil
	})
	if err != nil {
		return fmt.Errorf("disable mfa: %w", err)
	}
	if pending != uuid.Nil && pending != challengeID {
		if err := s.cancel(o, pending, domain.CancelMFADisabled); err != nil {
			return fmt.Errorf("disable mfa: %w", err)
		}
	}
	return nil
}
