// Package client is Assent's Go client for devices and integrators: a device's keys and
// linked accounts in a file of its own (DeviceFile), enrollment and linking from the phone,
// the device socket with reconnect and backoff, signed answers, the loop of a device app that
// answers sign-in requests (Approver, which shows them through a Screen), offline TOTP codes,
// the device's history, and awaiting a sign-in's result. The terminal device (assent device)
// is this package with words and flags around it.
package client

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/assent-dev/assent/domain"
)

// Link is one account linked to this device.
type Link struct {
	AccountID uuid.UUID `json:"account_id"`
	Email     string    `json:"email,omitempty"`
	// TOTPSecret is the base32 secret of this link's offline codes.
	TOTPSecret string    `json:"totp_secret"`
	LinkedAt   time.Time `json:"linked_at"`
}

// Device is a device's identity and links. It holds secrets: keep it in a file only its owner
// can read (Save writes mode 0600, Load refuses a file others can read).
type Device struct {
	ID         uuid.UUID          `json:"device_id"`
	Name       string             `json:"name"`
	Platform   string             `json:"platform"`
	Server     string             `json:"server,omitempty"`
	PrivateKey ed25519.PrivateKey `json:"private_key"`
	Links      []Link             `json:"links"`
}

// NewDevice makes a device with a fresh Ed25519 key pair. Its ID is assigned by the server at
// its first enrollment.
func NewDevice(name, platform string) (*Device, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("client: new device key: %w", err)
	}
	return &Device{Name: name, Platform: platform, PrivateKey: priv}, nil
}

// PublicKey is the key the server verifies the device's signatures with.
func (d *Device) PublicKey() ed25519.PublicKey { return d.PrivateKey.Public().(ed25519.PublicKey) }

// ErrStateFileOpen is returned by Load for a state file that others than its owner can read.
var ErrStateFileOpen = errors.New("client: the device file is readable by others than its owner")

// Load reads a device file written by Save.
func Load(path string) (*Device, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("client: load device: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %v; run chmod 600 on it", ErrStateFileOpen, path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("client: load device: %w", err)
	}
	var d Device
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("client: load device %s: %w", path, err)
	}
	if len(d.PrivateKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("client: load device %s: no valid private key", path)
	}
	return &d, nil
}

// Save writes the device to path atomically, readable by its owner only.
func (d *Device) Save(path string) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("client: save device: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".device-*")
	if err != nil {
		return fmt.Errorf("client: save device: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("client: save device: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("client: save device: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("client: save device: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("client: save device: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("client: save device: %w", err)
	}
	return nil
}

// AddLink records a link, replacing an earlier link to the same account.
func (d *Device) AddLink(l Link) {
	d.RemoveLink(l.AccountID)
	d.Links = append(d.Links, l)
}

// RemoveLink forgets the link to account; it reports whether there was one.
func (d *Device) RemoveLink(account uuid.UUID) bool {
	n := len(d.Links)
	d.Links = slices.DeleteFunc(d.Links, func(l Link) bool { return l.AccountID == account })
	return len(d.Links) != n
}

// Link returns the link to account.
func (d *Device) Link(account uuid.UUID) (Link, bool) {
	for _, l := range d.Links {
		if l.AccountID == account {
			return l, true
		}
	}
	return Link{}, false
}

// Code is the offline code of one linked account at a moment.
type Code struct {
	AccountID   uuid.UUID
	Email       string
	Code        string
	SecondsLeft int
}

// Codes computes the current 6-digit code of every linked account, without any network.
func (d *Device) Codes(now time.Time) ([]Code, error) {
	out := make([]Code, 0, len(d.Links))
	for _, l := range d.Links {
		code, err := TOTPCode(l.TOTPSecret, now)
		if err != nil {
			return nil, fmt.Errorf("client: code for %s: %w", l.Email, err)
		}
		out = append(out, Code{AccountID: l.AccountID, Email: l.Email, Code: code, SecondsLeft: 30 - int(now.Unix()%30)})
	}
	return out, nil
}

// TOTPCode computes the RFC 6238 code (SHA-1, 6 digits, 30 s) of a base32 secret at t.
func TOTPCode(secret string, t time.Time) (string, error) {
	secret = strings.ToUpper(strings.TrimRight(strings.ReplaceAll(secret, " ", ""), "="))
	if _, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret); err != nil {
		return "", fmt.Errorf("client: the TOTP secret is not base32")
	}
	return totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

// SignAuth signs the server's nonce to open the device socket.
func (d *Device) SignAuth(nonce []byte) []byte {
	return ed25519.Sign(d.PrivateKey, domain.DeviceAuthPayload(d.ID, nonce))
}

// SignAnswer signs an answer to a challenge: the challenge ID, the answer (approve, deny or
// fraud: "this wasn't me"), the typed number (0 for deny and fraud) and the digest of the
// context shown. The zero Answer is refused.
func (d *Device) SignAnswer(challengeID uuid.UUID, answer domain.Answer, number int, lc domain.LoginContext) ([]byte, error) {
	if _, err := domain.ParseAnswer(answer.String()); err != nil {
		return nil, err
	}
	digest := lc.Digest()
	return ed25519.Sign(d.PrivateKey, domain.SignedAnswerPayload(challengeID, answer, domain.MatchNumber(number), digest[:])), nil
}
