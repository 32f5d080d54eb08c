package domain

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// ErrAccountErased is returned for an account that was erased. It matches ErrAccountNotFound
// too: to every command an erased account is one that does not exist.
var ErrAccountErased = fmt.Errorf("%w: account erased", ErrAccountNotFound)

// AccountErased: the account was erased (crypto-shredding): the key that sealed its personal
// fields was destroyed, so that they can no longer be read anywhere, its devices were unlinked
// by the events just before, and every session it had ended. By is the administrator's
// credential name, or empty when the person erased their own account; Reason is the
// administrator's written reason (kept readable: it is the help desk's record of why, and must
// not hold personal data), empty for the person.
//
// It is the account stream's last event: the account no longer exists for any command, and
// every read model drops or blanks what it held of the account when it folds this event.
type AccountErased struct {
	AccountID uuid.UUID `json:"account_id"`
	By        string    `json:"by,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	// Devices are the devices the erasure unlinked, whose own registrations (name, platform)
	// were sealed under keys destroyed with the account's: the devices read model blanks them.
	Devices []uuid.UUID `json:"devices,omitempty"`
	At      time.Time   `json:"at"`
}

func (AccountErased) EventType() string       { return "account.erased" }
func (e AccountErased) OccurredAt() time.Time { return e.At }

// EraseAccount erases the account. By names the administrator, who must give a Reason; an
// empty By is the person themself, after a fresh second factor (the caller checks it).
type EraseAccount struct {
	By     string
	Reason string
}

// EraseAccount decides EraseAccount: every linked device is unlinked, then AccountErased.
func (a *Account) EraseAccount(cmd EraseAccount, now time.Time) Decision {
	if !a.Exists() {
		if a.erased {
			return refuse(ErrAccountErased)
		}
		return refuse(ErrAccountNotFound)
	}
	if cmd.By != "" {
		if err := (HelpDeskAct{By: cmd.By, Reason: cmd.Reason}).validate(); err != nil {
			return refuse(fmt.Errorf("erase account: %w", err))
		}
	} else if cmd.Reason != "" && (!utf8.ValidString(cmd.Reason) || utf8.RuneCountInString(cmd.Reason) > maxReasonRunes || strings.TrimSpace(cmd.Reason) == "") {
		return refuse(fmt.Errorf("erase account: %w: the reason must be valid text of at most %d characters", ErrInvalidReason, maxReasonRunes))
	}
	var events []Event
	var devices []uuid.UUID
	for _, d := range a.devices {
		events = append(events, DeviceUnlinked{AccountID: a.id, DeviceID: d.id, At: now})
		devices = append(devices, d.id)
	}
	return accept(append(events, AccountErased{AccountID: a.id, By: cmd.By, Reason: cmd.Reason, Devices: devices, At: now})...)
}

// Erased reports whether the account was erased.
func (a *Account) Erased() bool { return a.erased }
