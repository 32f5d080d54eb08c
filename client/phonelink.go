package client

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

// PhoneLink links a device from the device itself, with the account's email and password:
// BeginPhoneLink checks them; when the account has two-factor authentication on, its second
// factor is passed (approved on a device already linked, AwaitApproval, or a code typed on
// this one, PassWithCode); then Authorize, the person tapping Authorize, links the device and
// saves its file.
type PhoneLink struct {
	// Device is the device being linked (new when the file did not exist).
	Device *Device
	// Start is the server's answer to the credentials; Start.Challenge is the second factor
	// to pass, nil when the account has none.
	Start PhoneLinkStart

	file            DeviceFile
	c               *Client
	email, password string
}

// BeginPhoneLink checks the credentials of an account of server for the device d of the
// file (from OpenFor, which refuses a device of another server), naming the device so that
// the devices already linked say "A new device, NAME, is being linked".
func (f DeviceFile) BeginPhoneLink(ctx context.Context, d *Device, server, email, password string) (*PhoneLink, error) {
	c := New(server)
	start, err := c.PhoneLinkBeginAs(ctx, d, email, password)
	if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	return &PhoneLink{Device: d, Start: start, file: f, c: c, email: email, password: password}, nil
}

// NotApprovedError is returned by AwaitApproval when the second factor ended without passing.
type NotApprovedError struct {
	// State is how the challenge ended (the zero state for one this build does not know).
	State domain.ChallengeState
	// Status is the server's spelling of it.
	Status string
}

func (e *NotApprovedError) Error() string {
	return "the sign-in was not approved: " + strings.ReplaceAll(e.Status, "_", " ")
}

// AwaitApproval waits until the second factor is decided on a device already linked: nil
// when it passed, a *NotApprovedError when it did not.
func (p *PhoneLink) AwaitApproval(ctx context.Context) error {
	st, err := p.c.AwaitLogin(ctx, p.Start.Challenge.ID, p.Start.LoginToken)
	if err == nil && !st.Approved {
		err = &NotApprovedError{State: st.State(), Status: st.Status}
	}
	return err
}

// PassWithCode passes the second factor with a code of an authenticator app, or a backup
// code.
func (p *PhoneLink) PassWithCode(ctx context.Context, code string) error {
	return p.c.PassWithCode(ctx, p.Start.Challenge.ID, p.Start.LoginToken, code)
}

// Authorize links the device, once the second factor (if any) passed, and saves its file.
func (p *PhoneLink) Authorize(ctx context.Context) (LinkResult, error) {
	challenge := uuid.Nil
	if p.Start.Challenge != nil {
		challenge = p.Start.Challenge.ID
	}
	res, err := p.c.PhoneLinkAuthorize(ctx, p.Device, p.email, p.password, challenge)
	if err != nil {
		return LinkResult{}, fmt.Errorf("authorize: %w", err)
	}
	if err := p.file.Save(p.Device); err != nil {
		return LinkResult{}, err
	}
	return res, nil
}
