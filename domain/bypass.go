package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// BypassCodesIssued: an administrator issued bypass codes for a user (Duo's bypass codes), as
// keyed hashes like backup codes. They replace the user's previous bypass codes, not the
// backup codes, and work once each until ExpiresAt. A use is recorded as backupcodes.used
// with this SetID. By and Reason name the administrator and their written reason when the help
// desk issued the codes to a person (helpdesk.go); they are empty for an integration's user.
type BypassCodesIssued struct {
	AccountID uuid.UUID `json:"account_id" assent:"owner"`
	SetID     uuid.UUID `json:"set_id"`
	Hashes    []string  `json:"hashes" assent:"secret"`
	ExpiresAt time.Time `json:"expires_at"`
	By        string    `json:"by,omitempty"`
	Reason    string    `json:"reason,omitempty" assent:"personal"`
	At        time.Time `json:"at"`
}

func (BypassCodesIssued) EventType() string       { return "account.bypass_codes.issued" }
func (e BypassCodesIssued) OccurredAt() time.Time { return e.At }

// IssueBypassCodes issues 1 to 10 bypass codes, valid until ExpiresAt.
type IssueBypassCodes struct {
	SetID     uuid.UUID
	Hashes    []string
	ExpiresAt time.Time
}

// IssueBypassCodes decides IssueBypassCodes: the account's second factor must be on (the codes
// stand in for it), and the expiry in the future.
func (a *Account) IssueBypassCodes(cmd IssueBypassCodes, now time.Time) Decision {
	switch {
	case !a.Exists():
		return refuse(ErrAccountNotFound)
	case !a.mfa:
		return refuse(ErrMFANotEnabled)
	case cmd.SetID == uuid.Nil || len(cmd.Hashes) < 1 || len(cmd.Hashes) > backupCodesPerSet:
		return refuse(fmt.Errorf("issue bypass codes: %w: a set ID and 1 to %d hashes are required", ErrInvalidCommand, backupCodesPerSet))
	case !cmd.ExpiresAt.After(now):
		return refuse(fmt.Errorf("issue bypass codes: %w: the expiry must be in the future", ErrInvalidCommand))
	}
	seen := map[string]bool{}
	for _, h := range cmd.Hashes {
		if id, mac, ok := strings.Cut(h, ":"); !ok || id == "" || mac == "" || len(h) > 256 || seen[h] {
			return refuse(fmt.Errorf("issue bypass codes: %w: hashes must be distinct 'keyID:mac' strings", ErrInvalidCommand))
		}
		seen[h] = true
	}
	return accept(BypassCodesIssued{AccountID: a.id, SetID: cmd.SetID, Hashes: slices.Clone(cmd.Hashes), ExpiresAt: cmd.ExpiresAt, At: now})
}

// BypassCodesLeft returns the number of unused bypass codes valid at now.
func (a *Account) BypassCodesLeft(now time.Time) int {
	if a.bypass == nil || !now.Before(a.bypassUntil) {
		return 0
	}
	n := 0
	for _, u := range a.bypass.used {
		if !u {
			n++
		}
	}
	return n
}

// codeSets returns the sets a typed backup code may belong to at now: the backup codes, then
// the bypass codes while they are valid.
func (a *Account) codeSets(now time.Time) []*backupSet {
	var out []*backupSet
	if a.backup != nil {
		out = append(out, a.backup)
	}
	if a.bypass != nil && now.Before(a.bypassUntil) {
		out = append(out, a.bypass)
	}
	return out
}
