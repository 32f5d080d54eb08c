package audit

import (
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/audit/checkpoint"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// Summarize returns one line that tells a person what ev records. It never holds a secret:
// it says that a password, a TOTP secret or backup codes were set or used, never their value.
func Summarize(ev *eventstore.RecordedEvent) string {
	if !domain.Events.IsRegistered(ev.Type) {
		return "event of unknown type " + ev.Type
	}
	e, err := domain.Decode(ev.Type, ev.SchemaVersion, ev.Data)
	if err != nil {
		return ev.Type + " (does not decode)"
	}
	return summarize(e)
}

func short(id uuid.UUID) string { return id.String()[:8] }

func summarize(e domain.Event) string {
	switch e := e.(type) {
	case domain.CheckpointSigned:
		return fmt.Sprintf("checkpoint #%d signed by key %s: %d streams up to position %d", e.Seq, checkpoint.KeyID(e.PublicKey), e.Streams, e.Position)
	case domain.AuditReadRecorded:
		return strings.TrimSpace(fmt.Sprintf("auditor %q read %s %s", e.Auditor, e.Operation, e.Target))
	case domain.AuditLossAccepted:
		return fmt.Sprintf("operator %q accepted the loss of the events after position %d that checkpoint #%d covered: %s", e.Operator, e.LogHead, e.AnchorSeq, e.Reason)
	case domain.EmailClaimed:
		return "email address claimed for account " + short(e.AccountID)
	case domain.AccountRegistered:
		return fmt.Sprintf("account registered with email %s; password set (argon2id hash, not shown)", e.Email)
	case domain.PasswordChanged:
		return "password changed (new hash stored, not shown)"
	case domain.SignInFailed:
		return "sign-in failed: wrong password"
	case domain.SignInLocked:
		return fmt.Sprintf("sign-in from %s locked after %d wrong passwords until %s", e.Source, e.Failures, e.Until.UTC().Format("2006-01-02 15:04:05Z"))
	case domain.SignedOut:
		return fmt.Sprintf("signed out of a session that would have lasted until %s", e.Until.UTC().Format("2006-01-02 15:04:05Z"))
	case domain.MFAEnabled:
		return "two-factor authentication turned on"
	case domain.MFADisabled:
		return "two-factor authentication turned off; TOTP apps and backup codes dropped"
	case domain.MFALocked:
		return fmt.Sprintf("second factor locked after %d failures until %s", e.Failures, e.Until.UTC().Format("2006-01-02 15:04:05Z"))
	case domain.PushMuted:
		return fmt.Sprintf("pushes muted until %s after a fraud report on challenge %s", e.Until.UTC().Format("2006-01-02 15:04:05Z"), short(e.ChallengeID))
	case domain.SignInChallenged:
		s := "password accepted; challenge " + short(e.ChallengeID) + " opened"
		if e.Superseded != uuid.Nil {
			s += ", replacing " + short(e.Superseded)
		}
		return s
	case domain.ChallengeFailed:
		return fmt.Sprintf("challenge %s failed (%s) by device %s", short(e.ChallengeID), e.Reason, short(e.DeviceID))
	case domain.DeviceLinked:
		return fmt.Sprintf("device %s %q linked (%s); its TOTP secret for this account set (sealed, not shown)", short(e.DeviceID), e.Name, e.Method)
	case domain.DeviceUnlinked:
		return fmt.Sprintf("device %s unlinked", short(e.DeviceID))
	case domain.TOTPAppAdded:
		return fmt.Sprintf("authenticator app %s %q added; its secret set (sealed, not shown)", short(e.AppID), e.Name)
	case domain.TOTPAppConfirmed:
		return fmt.Sprintf("authenticator app %s confirmed with a valid code", short(e.AppID))
	case domain.TOTPCodeUsed:
		return fmt.Sprintf("TOTP code of secret %s used for challenge %s", short(e.SecretID), short(e.ChallengeID))
	case domain.TOTPCheckFailed:
		return fmt.Sprintf("TOTP code refused (%s)", e.Reason)
	case domain.BackupCodesIssued:
		return fmt.Sprintf("%d backup codes issued as set %s (hashes only, not shown); earlier codes revoked", len(e.Hashes), short(e.SetID))
	case domain.BackupCodeUsed:
		return fmt.Sprintf("backup code #%d of set %s used for challenge %s", e.Index+1, short(e.SetID), short(e.ChallengeID))
	case domain.BackupCodeCheckFailed:
		return fmt.Sprintf("backup code refused (%s)", e.Reason)
	case domain.DeviceRegistered:
		return fmt.Sprintf("device %q (%s) registered its public key %s", e.Name, e.Platform, keyFingerprint(e.PublicKey))
	case domain.EnrollmentStarted:
		return fmt.Sprintf("enrollment link created for account %s, valid until %s", short(e.AccountID), e.ExpiresAt.UTC().Format("15:04:05Z"))
	case domain.EnrollmentCompleted:
		return fmt.Sprintf("enrollment link used by device %s", short(e.DeviceID))
	case domain.EnrollmentExpired:
		return "enrollment link expired unused"
	case domain.ChallengeIssued:
		where := e.Context.IP
		if e.Context.Place != "" {
			where += ", " + e.Context.Place
		}
		s := fmt.Sprintf("challenge issued: number %s shown; sign-in from %s (%s); pushed to %d device(s)", e.Number, where, e.Context.UserAgent, len(e.Devices))
		if e.PushMuted {
			s += "; pushes muted"
		}
		return s
	case domain.ChallengeDelivered:
		return fmt.Sprintf("device %s received the challenge", short(e.DeviceID))
	case domain.ChallengeApproved:
		return fmt.Sprintf("approved by device %s with number %s (signed)", short(e.DeviceID), e.Number)
	case domain.ChallengeDenied:
		return fmt.Sprintf("denied by device %s (signed)", short(e.DeviceID))
	case domain.FraudReported:
		return fmt.Sprintf("device %s reported fraud: \"This wasn't me\" (signed)", short(e.DeviceID))
	case domain.NumberMismatched:
		return fmt.Sprintf("device %s approved with the wrong number %s (signed); still pending", short(e.DeviceID), e.Typed)
	case domain.ChallengeExpired:
		return "challenge expired unanswered"
	case domain.ChallengeCancelled:
		return fmt.Sprintf("challenge cancelled (%s)", e.Reason)
	case domain.ChallengeCompletedTOTP:
		return fmt.Sprintf("challenge passed with a TOTP code of secret %s", short(e.SecretID))
	case domain.ChallengeCompletedBackupCode:
		return fmt.Sprintf("challenge passed with backup code #%d of set %s", e.Index+1, short(e.SetID))
	case domain.ChallengeRedeemed:
		if e.Purpose == domain.RedeemSession {
			return "passed challenge exchanged for a session (once)"
		}
		return fmt.Sprintf("passed challenge spent on %s (once)", strings.ReplaceAll(e.Purpose.String(), "_", " "))
	}
	if line, ok := summarizeHelpDesk(e); ok {
		return line
	}
	if line, ok := summarizeIntegration(e); ok {
		return line
	}
	if s, ok := summarizeOIDC(e); ok {
		return s
	}
	return e.EventType()
}

// summarizeIntegration tells the events of the Duo-compatible Auth API's integrations.
func summarizeIntegration(e domain.Event) (string, bool) {
	switch e := e.(type) {
	case domain.IntegrationCreated:
		return fmt.Sprintf("integration %s %q created (number matching %t, legacy API %t); secret key set (sealed, not shown)", e.Key, e.Name, e.NumberMatching, e.LegacyV1), true
	case domain.IntegrationSecretRotated:
		return fmt.Sprintf("integration %s: secret key replaced (sealed, not shown)", e.Key), true
	case domain.IntegrationDisabled:
		return fmt.Sprintf("integration %s disabled", e.Key), true
	case domain.IntegrationUserCreated:
		return fmt.Sprintf("user %q of integration %s created (no password: the application checks the first factor)", e.Username, e.Integration), true
	case domain.BypassCodesIssued:
		return fmt.Sprintf("%d bypass codes issued, set %s, valid until %s (keyed hashes, not shown)", len(e.Hashes), short(e.SetID), e.ExpiresAt.UTC().Format("2006-01-02 15:04:05Z")), true
	}
	return "", false
}

func keyFingerprint(pub []byte) string {
	if len(pub) == 0 {
		return "(none)"
	}
	return "ed25519:" + checkpoint.KeyID(pub)
}
