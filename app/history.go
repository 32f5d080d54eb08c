package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/projections"
)

// DeviceRequestWindow is how far the time a device signed a request at may be from the
// server's clock: a signed request is good for about this long, and is refused after.
const DeviceRequestWindow = time.Minute

// ErrRequestExpired is a device's signed request whose time is further than
// DeviceRequestWindow from the server's clock.
var ErrRequestExpired = errors.New("the device's signed request is too old, or its clock is off")

// DeviceRequest is an HTTP request a device made as itself: it signed
// domain.DeviceRequestPayload of the method, the path with its query, and the time At.
type DeviceRequest struct {
	DeviceID  uuid.UUID
	Method    string
	Path      string // with its query, as sent
	At        time.Time
	Signature []byte
}

// History returns the account's recent sign-ins and pushes (projections.History), newest
// first, with the names of its devices and apps. Each entry's signed answer is verified by
// the caller as it shows it (HistoryEntry.Check): the check runs on what is shown.
func (s *Service) History(ctx context.Context, accountID uuid.UUID) ([]projections.HistoryEntry, projections.HistoryNames, error) {
	if err := s.caughtUp(ctx); err != nil {
		return nil, projections.HistoryNames{}, fmt.Errorf("history: %w", err)
	}
	list, names, err := s.views.History.ForAccount(accountID)
	if err != nil {
		return nil, projections.HistoryNames{}, fmt.Errorf("history: %w", err)
	}
	return list, names, nil
}

// DeviceHistory returns the recent pushes of an account that the device is linked to, as
// History does, for a device's signed request: its signature must verify under the device's
// key (domain.ErrBadSignature), its time be within DeviceRequestWindow (ErrRequestExpired),
// and the device be linked to the account now (domain.ErrDeviceNotLinked).
func (s *Service) DeviceHistory(ctx context.Context, req DeviceRequest, accountID uuid.UUID) ([]projections.HistoryEntry, projections.HistoryNames, error) {
	if err := s.verifyDeviceRequest(ctx, req); err != nil {
		return nil, projections.HistoryNames{}, fmt.Errorf("device history: %w", err)
	}
	d, err := s.Device(ctx, req.DeviceID)
	if err != nil {
		return nil, projections.HistoryNames{}, fmt.Errorf("device history: %w", err)
	}
	if !slices.Contains(d.Accounts, accountID) {
		return nil, projections.HistoryNames{}, fmt.Errorf("device history: %w", domain.ErrDeviceNotLinked)
	}
	list, names, err := s.History(ctx, accountID)
	if err != nil {
		return nil, projections.HistoryNames{}, err
	}
	return slices.DeleteFunc(list, func(e projections.HistoryEntry) bool { return !e.Pushed() }), names, nil
}

// verifyDeviceRequest checks a device's signed request: the key is read from the device's
// stream, the authority.
func (s *Service) verifyDeviceRequest(ctx context.Context, req DeviceRequest) error {
	if d := s.now().Sub(req.At); d > DeviceRequestWindow || d < -DeviceRequestWindow {
		return ErrRequestExpired
	}
	key, err := s.DevicePublicKey(ctx, req.DeviceID)
	if errors.Is(err, domain.ErrDeviceNotFound) {
		return domain.ErrBadSignature // an unknown device and a wrong key are told alike
	}
	if err != nil {
		return err
	}
	if len(req.Signature) != ed25519.SignatureSize || !ed25519.Verify(key, domain.DeviceRequestPayload(req.DeviceID, req.Method, req.Path, req.At), req.Signature) {
		return domain.ErrBadSignature
	}
	return nil
}
