package domain_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

var erasedByDesk = domain.AccountErased{AccountID: accountID, By: act.By, Reason: "ticket 4712: asked to be forgotten", Devices: []uuid.UUID{deviceID, device2ID}, At: t0}

func init() { samples = append(samples, erasedByDesk) }

func TestEraseAccountDecisions(t *testing.T) {
	t.Parallel()
	erasedBySelf := domain.AccountErased{AccountID: accountID, At: t0}
	run(t, domain.LoadAccount, []gwt[*domain.Account]{
		{
			name:  "an administrator's erasure unlinks every device and names who and why",
			given: concat(withMFA, []domain.Event{device2Linked}),
			when: func(a *domain.Account) domain.Decision {
				return a.EraseAccount(domain.EraseAccount{By: act.By, Reason: erasedByDesk.Reason}, t0)
			},
			then: []domain.Event{
				domain.DeviceUnlinked{AccountID: accountID, DeviceID: deviceID, At: t0},
				domain.DeviceUnlinked{AccountID: accountID, DeviceID: device2ID, At: t0},
				erasedByDesk,
			},
		},
		{
			name:  "the person erases their own account without a reason",
			given: []domain.Event{registered},
			when:  func(a *domain.Account) domain.Decision { return a.EraseAccount(domain.EraseAccount{}, t0) },
			then:  []domain.Event{erasedBySelf},
		},
		{
			name:  "an administrator must write a reason",
			given: []domain.Event{registered},
			when:  func(a *domain.Account) domain.Decision { return a.EraseAccount(domain.EraseAccount{By: act.By}, t0) },
			err:   domain.ErrReasonRequired,
		},
		{
			name:  "an erased account cannot be erased again",
			given: []domain.Event{registered, erasedBySelf},
			when:  func(a *domain.Account) domain.Decision { return a.EraseAccount(domain.EraseAccount{}, t0) },
			err:   domain.ErrAccountErased,
		},
		{
			name:  "an erased account refuses every other command as one that does not exist",
			given: []domain.Event{registered, erasedBySelf},
			when: func(a *domain.Account) domain.Decision {
				return a.DisableAccount(domain.DisableAccount{HelpDeskAct: act}, t0)
			},
			err: domain.ErrAccountNotFound,
		},
	})
}

func TestErasedAccountKeepsNothingPersonal(t *testing.T) {
	t.Parallel()
	a, err := domain.LoadAccount(concat(withMFA, []domain.Event{device2Linked, domain.AccountErased{AccountID: accountID, At: t0}}))
	if err != nil {
		t.Fatal(err)
	}
	if a.Exists() || !a.Erased() || !a.Email().IsZero() || len(a.LinkedDevices()) != 0 || a.ID() != accountID {
		t.Fatalf("erased account: exists %v erased %v email %q devices %d id %s", a.Exists(), a.Erased(), a.Email(), len(a.LinkedDevices()), a.ID())
	}
	// A snapshot of it restores an erased account, not an empty one that exists.
	raw, err := a.MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := domain.UnmarshalAccountSnapshot(domain.AccountSnapshotSchema, raw)
	if err != nil {
		t.Fatal(err)
	}
	if b.Exists() || !b.Erased() {
		t.Fatalf("restored snapshot: exists %v erased %v", b.Exists(), b.Erased())
	}
}

func TestErasedHoldersEmailMayBeClaimedAgainAtOnce(t *testing.T) {
	t.Parallel()
	c, err := domain.LoadEmailClaim([]domain.Event{domain.EmailClaimed{AccountID: accountID, At: t0}})
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Claim(domain.ClaimEmail{AccountID: device2ID}, t0); !errors.Is(d.Err, domain.ErrEmailTaken) {
		t.Fatalf("claim of a held email: %v", d.Err)
	}
	d := c.Claim(domain.ClaimEmail{AccountID: device2ID, HolderErased: true}, t0)
	if d.Err != nil || len(d.Events) != 1 || d.Events[0].(domain.EmailClaimed).AccountID != device2ID {
		t.Fatalf("claim of an erased holder's email: %+v", d)
	}
}
