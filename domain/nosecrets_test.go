package domain_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/secrets"
)

// TestJourneyKeepsSecretsOutOfEvents runs registration, a phone link, 2FA activation, a
// challenge completed with a TOTP code and one completed with a backup code, using the real
// secrets package as the application layer would, and checks that no encoded event holds
// the password, the TOTP secret or a backup code in any readable form.
func TestJourneyKeepsSecretsOutOfEvents(t *testing.T) {
	t.Parallel()
	kr, err := secrets.ParseKeyring("k1:" + strings.Repeat("A", 43))
	if err != nil {
		t.Fatal(err)
	}
	const password = "correct horse battery staple"
	hash, err := secrets.DefaultArgon2Params().Hash(password, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	totpSecret, _ := secrets.NewTOTPSecret(rand.Reader)
	sealedSecret, err := kr.Seal(totpSecret.Bytes(), accountID[:])
	if err != nil {
		t.Fatal(err)
	}
	codes, _ := secrets.GenerateBackupCodes(rand.Reader)
	hasher := kr.CodeHasher()
	set := domain.BackupCodeSet{SetID: setID}
	for _, c := range codes {
		set.Hashes = append(set.Hashes, hasher.Hash(c))
	}

	var log []domain.Event
	step := func(d domain.Decision) {
		t.Helper()
		if d.Err != nil {
			t.Fatalf("decision refused: %v", d.Err)
		}
		log = append(log, d.Events...)
	}
	acc := func() *domain.Account {
		a, err := domain.LoadAccount(log)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	now := t0
	step((&domain.Account{}).Register(domain.RegisterAccount{AccountID: accountID, Email: email, PasswordHash: hash}, now))
	if ok, _ := secrets.VerifyPassword(password, acc().PasswordHash()); !ok {
		t.Fatal("the folded hash does not verify the password")
	}
	dev, _ := domain.LoadDevice([]domain.Event{domain.DeviceRegistered{DeviceID: deviceID, PublicKey: devPub, Name: "Pixel", Platform: "android", At: now}})
	step(acc().AuthorizePhoneLink(domain.AuthorizePhoneLink{Device: dev, PasswordVerified: true, SealedTOTPSecret: sealedSecret}, now, policy))
	step(acc().EnableMFA(domain.EnableMFA{BackupCodes: set}, now))

	issue := func(id uuid.UUID) {
		is, err := acc().IssueChallenge(domain.IssueChallenge{ChallengeID: id, Number: 42, Context: loginCtx}, now, policy)
		if err != nil {
			t.Fatal(err)
		}
		log = append(log, is.AccountEvents...)
	}
	issue(challengeID)
	// The application layer opens each sealed secret and matches the typed code.
	code, _ := totpSecret.Code(now)
	var match *domain.TOTPMatch
	for _, s := range acc().TOTPSecrets() {
		raw, err := kr.Open(s.Sealed, accountID[:])
		if err != nil {
			t.Fatal(err)
		}
		sec, _ := secrets.TOTPSecretFromBytes(raw)
		if st, ok := sec.Match(code, now); ok {
			match = &domain.TOTPMatch{SecretID: s.ID, Step: st}
		}
	}
	step(acc().UseTOTPCode(domain.UseTOTPCode{ChallengeID: challengeID, Match: match}, now, policy))
	// The same code again is refused: a code works once.
	if d := acc().UseTOTPCode(domain.UseTOTPCode{ChallengeID: challengeID, Match: match}, now, policy); d.Err == nil {
		t.Fatal("a TOTP code worked twice")
	}

	now = now.Add(time.Minute)
	issue(challenge2)
	typed, _ := secrets.ParseBackupCode(strings.ToUpper(codes[3].Reveal()))
	step(acc().UseBackupCode(domain.UseBackupCode{ChallengeID: challenge2, Candidates: hasher.Candidates(typed)}, now, policy))
	if left := acc().BackupCodesLeft(); left != 9 {
		t.Fatalf("backup codes left = %d, want 9", left)
	}

	var all bytes.Buffer
	for _, e := range log {
		_, _, data, err := domain.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(data)
	}
	enc := all.String()
	forbidden := []string{password, totpSecret.Base32(), base32.StdEncoding.EncodeToString(totpSecret.Bytes()), string(totpSecret.Bytes())}
	for _, c := range codes {
		forbidden = append(forbidden, c.Reveal(), strings.ReplaceAll(c.Reveal(), "-", ""))
	}
	for _, s := range forbidden {
		if strings.Contains(enc, s) {
			t.Fatal("an encoded event holds a secret in the clear")
		}
	}
}
