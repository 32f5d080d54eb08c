package domain

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Device is the device aggregate, folded from the device stream: a phone app and its
// Ed25519 public key. Its links to accounts live in the accounts' streams.
type Device struct {
	id        uuid.UUID
	publicKey []byte
	name      string
	platform  string
}

// RegisterDevice introduces a device's public key. Name is 1 to 64 printable characters;
// Platform (for example "ios" or "android") 1 to 32.
type RegisterDevice struct {
	DeviceID  uuid.UUID
	PublicKey []byte
	Name      string
	Platform  string
}

// LoadDevice folds the events of a device stream.
func LoadDevice(events []Event) (*Device, error) {
	d := &Device{}
	for _, e := range events {
		switch e := e.(type) {
		case DeviceRegistered:
			d.id, d.publicKey, d.name, d.platform = e.DeviceID, e.PublicKey, e.Name, e.Platform
		default:
			return nil, fmt.Errorf("load device: %w: %q does not belong to a device stream", ErrMalformedEvent, e.EventType())
		}
	}
	return d, nil
}

// Exists reports whether the device was registered.
func (d *Device) Exists() bool { return d.id != uuid.Nil }

// ID returns the device's ID.
func (d *Device) ID() uuid.UUID { return d.id }

// PublicKey returns a copy of the device's Ed25519 public key.
func (d *Device) PublicKey() []byte { return slices.Clone(d.publicKey) }

// Name returns the device's name.
func (d *Device) Name() string { return d.name }

// Platform returns the device's platform.
func (d *Device) Platform() string { return d.platform }

// Register decides RegisterDevice. It refuses a device that exists.
func (d *Device) Register(cmd RegisterDevice, now time.Time) Decision {
	switch {
	case d.Exists():
		return refuse(ErrDeviceExists)
	case cmd.DeviceID == uuid.Nil:
		return refuse(fmt.Errorf("register device: %w: device ID is required", ErrInvalidCommand))
	case !validPublicKey(cmd.PublicKey):
		return refuse(fmt.Errorf("register device: %w: public key must be 32 bytes of Ed25519", ErrInvalidCommand))
	case !validName(cmd.Name, 64) || !validName(cmd.Platform, 32):
		return refuse(fmt.Errorf("register device: %w: name must have 1 to 64 and platform 1 to 32 printable characters", ErrInvalidCommand))
	}
	return accept(DeviceRegistered{DeviceID: cmd.DeviceID, PublicKey: slices.Clone(cmd.PublicKey), Name: cmd.Name, Platform: cmd.Platform, At: now})
}

// EmailClaim is the aggregate of an email's uniqueness stream (EmailStream).
type EmailClaim struct {
	accountID uuid.UUID
	claimedAt time.Time
}

// UnfinishedClaimTakeover is how old a claim whose account was never written must be before a
// new registration may take it over. A registration writes its claim and its account together
// where the store can (one atomic append); where it cannot, or in a log written before it could,
// a failure between the two left a claim without an account, which would block the address for
// ever. The wait covers a registration that is still between its two appends on another node:
// no request lives that long.
const UnfinishedClaimTakeover = time.Minute

// ClaimEmail reserves an email for an account. The caller appends the result to
// EmailStream(email) with the version it loaded and maps a conflict to ErrEmailTaken.
// HolderMissing says that the account the email is claimed for does not exist (the caller
// looked): the claim is then an unfinished registration's, and may be taken over once it is
// UnfinishedClaimTakeover old.
type ClaimEmail struct {
	AccountID     uuid.UUID
	HolderMissing bool
	// HolderErased says that the account the email is claimed for was erased: the address is
	// free again at once (a person who erased their account may come back).
	HolderErased bool
}

// LoadEmailClaim folds the events of an email stream; the last claim holds the email.
func LoadEmailClaim(events []Event) (*EmailClaim, error) {
	c := &EmailClaim{}
	for _, e := range events {
		switch e := e.(type) {
		case EmailClaimed:
			c.accountID, c.claimedAt = e.AccountID, e.At
		default:
			return nil, fmt.Errorf("load email claim: %w: %q does not belong to an email stream", ErrMalformedEvent, e.EventType())
		}
	}
	return c, nil
}

// AccountID returns the account that holds the email, or uuid.Nil.
func (c *EmailClaim) AccountID() uuid.UUID { return c.accountID }

// Claim decides ClaimEmail: ErrEmailTaken when the email is held, unless its holder was never
// written and the claim is old enough to be taken over (a new EmailClaimed then holds it).
func (c *EmailClaim) Claim(cmd ClaimEmail, now time.Time) Decision {
	switch {
	case cmd.AccountID == uuid.Nil:
		return refuse(fmt.Errorf("claim email: %w: account ID is required", ErrInvalidCommand))
	case c.accountID == cmd.AccountID:
		return refuse(ErrEmailTaken)
	case c.accountID != uuid.Nil && !cmd.HolderErased && !(cmd.HolderMissing && now.Sub(c.claimedAt) >= UnfinishedClaimTakeover):
		return refuse(ErrEmailTaken)
	}
	return accept(EmailClaimed{AccountID: cmd.AccountID, At: now})
}
