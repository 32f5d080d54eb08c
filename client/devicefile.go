package client

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"
)

// DeviceFile is a device kept in a file of its own: its key, links and TOTP secrets, readable
// by its owner only. It is what a device app does with that file: make the device on its
// first link, link it to accounts, forget the links the server drops.
type DeviceFile struct {
	// Path is the file.
	Path string
	// Name and Platform describe a device made by the first link; they are kept with it.
	Name, Platform string
}

// DefaultDevicePath is device.json in the user's configuration directory, or
// assent-device.json in the working directory when there is none.
func DefaultDevicePath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "assent-device.json"
	}
	return filepath.Join(dir, "assent", "device.json")
}

// ErrNoDeviceFile is returned by DeviceFile.Load when the file does not exist yet: no account
// was linked.
var ErrNoDeviceFile = errors.New("client: no device file")

// Load reads the device, which must exist (ErrNoDeviceFile otherwise).
func (f DeviceFile) Load() (*Device, error) {
	d, err := Load(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoDeviceFile, f.Path)
	}
	return d, err
}

// Open reads the device, or makes a new one (with a fresh key) when the file does not exist.
// A new device is saved by the first link.
func (f DeviceFile) Open() (*Device, error) {
	d, err := Load(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return NewDevice(f.Name, f.Platform)
	}
	return d, err
}

// Save writes the device, making the file's directory (owner only) when needed.
func (f DeviceFile) Save(d *Device) error {
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
		return fmt.Errorf("client: save device: %w", err)
	}
	return d.Save(f.Path)
}

// Forget drops the link to account from the file (unlinked on the server); it reports
// whether there was one.
func (f DeviceFile) Forget(account uuid.UUID) (bool, error) {
	d, err := f.Load()
	if err != nil {
		return false, err
	}
	if !d.RemoveLink(account) {
		return false, nil
	}
	return true, d.Save(f.Path)
}

// OtherServerError refuses to link a device that talks to one server to an account of
// another: a device holds one socket to one server. Another file serves another server.
type OtherServerError struct {
	// Linked is the server the device's accounts are on; Asked the one of the new link.
	Linked, Asked string
}

func (e *OtherServerError) Error() string {
	return fmt.Sprintf("client: the device is linked to accounts on %s, not %s", e.Linked, e.Asked)
}

// OpenFor opens the device (Open) to link it to an account of server: an *OtherServerError
// when it is linked to accounts on another server.
func (f DeviceFile) OpenFor(server string) (*Device, error) {
	d, err := f.Open()
	if err != nil {
		return nil, err
	}
	if d.Server != "" && len(d.Links) > 0 && strings.TrimRight(d.Server, "/") != strings.TrimRight(server, "/") {
		return nil, &OtherServerError{Linked: d.Server, Asked: server}
	}
	return d, nil
}

// Link links the device to an account with the enrollment link of its security page (the
// text of its QR code): it opens the file (making the device on the first link), refuses a
// link to another server, enrolls, and saves the file. The result holds the backup codes
// when the link turned two-factor authentication on: show them once.
func (f DeviceFile) Link(ctx context.Context, enrollmentLink string) (*Device, LinkResult, error) {
	server, token, err := ParseEnrollmentLink(enrollmentLink)
	if err != nil {
		return nil, LinkResult{}, err
	}
	d, err := f.OpenFor(server)
	if err != nil {
		return nil, LinkResult{}, err
	}
	res, err := New(server).Enroll(ctx, d, token)
	if err != nil {
		return nil, LinkResult{}, fmt.Errorf("link: %w", err)
	}
	if err := f.Save(d); err != nil {
		return nil, LinkResult{}, err
	}
	return d, res, nil
}

// AccountHistory is the history of one linked account.
type AccountHistory struct {
	Link    Link
	Entries []HistoryEntry
}

// History is "your recent approvals" of every account linked to d, in the order of its
// links, each newest first.
func (d *Device) History(ctx context.Context) ([]AccountHistory, error) {
	c := New(d.Server)
	out := make([]AccountHistory, 0, len(d.Links))
	for _, l := range d.Links {
		list, err := c.DeviceHistory(ctx, d, l.AccountID)
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", l.Email, err)
		}
		out = append(out, AccountHistory{Link: l, Entries: list})
	}
	return out, nil
}
