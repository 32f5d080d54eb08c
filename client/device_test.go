package client_test

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pquerna/otp/totp"

	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/domain"
)

func TestDeviceFileIsOwnerOnlyAndRoundTrips(t *testing.T) {
	t.Parallel()
	d, err := client.NewDevice("laptop", "linux")
	if err != nil {
		t.Fatal(err)
	}
	d.ID = uuid.New()
	d.AddLink(client.Link{AccountID: uuid.New(), Email: "a@example.com", TOTPSecret: "JBSWY3DPEHPK3PXP"})
	path := filepath.Join(t.TempDir(), "device.json")
	if err := d.Save(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("device file mode %v, want 0600", fi.Mode().Perm())
	}
	got, err := client.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != d.ID || !got.PrivateKey.Equal(d.PrivateKey) || len(got.Links) != 1 {
		t.Fatalf("loaded %+v", got)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Load(path); !errors.Is(err, client.ErrStateFileOpen) {
		t.Fatalf("load a world-readable device file: %v, want ErrStateFileOpen", err)
	}
}

func TestCodesMatchPquernaOTP(t *testing.T) {
	t.Parallel()
	d, _ := client.NewDevice("phone", "ios")
	secret := "JBSWY3DPEHPK3PXP"
	d.AddLink(client.Link{AccountID: uuid.New(), Email: "a@example.com", TOTPSecret: secret})
	now := time.Date(2026, 11, 27, 12, 0, 17, 0, time.UTC)
	codes, err := d.Codes(now)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 1 || codes[0].SecondsLeft != 13 {
		t.Fatalf("codes %+v, want one with 13 seconds left", codes)
	}
	if ok, err := totp.ValidateCustom(codes[0].Code, secret, now, totp.ValidateOpts{Period: 30, Digits: 6}); err != nil || !ok {
		t.Fatalf("code %s does not validate with pquerna/otp", codes[0].Code)
	}
}

func TestSignaturesVerifyWithTheDomainPayloads(t *testing.T) {
	t.Parallel()
	d, _ := client.NewDevice("phone", "android")
	d.ID = uuid.New()
	nonce := []byte("0123456789abcdef")
	if !ed25519.Verify(d.PublicKey(), domain.DeviceAuthPayload(d.ID, nonce), d.SignAuth(nonce)) {
		t.Fatal("the auth signature does not verify")
	}
	ch := uuid.New()
	lc := domain.LoginContext{UserAgent: "Firefox", IP: "203.0.113.9", At: time.Unix(1_800_000_000, 0).UTC()}
	sig, err := d.SignAnswer(ch, domain.AnswerApprove, 42, lc)
	if err != nil {
		t.Fatal(err)
	}
	digest := lc.Digest()
	if !ed25519.Verify(d.PublicKey(), domain.SignedAnswerPayload(ch, domain.AnswerApprove, 42, digest[:]), sig) {
		t.Fatal("the answer signature does not verify")
	}
	if _, err := d.SignAnswer(ch, domain.Answer{}, 0, lc); err == nil {
		t.Fatal("an unknown answer was signed")
	}
}
