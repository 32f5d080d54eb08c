package domain

import (
	"reflect"
	"testing"
	"time"

	"github.com/assent-dev/assent/secrets"
)

// The domain repeats three constants of package secrets to stay free of it; they must agree.
func TestConstantsAgreeWithSecrets(t *testing.T) {
	t.Parallel()
	if time.Duration(totpPeriodSeconds)*time.Second != secrets.TOTPPeriod || totpSkew != secrets.TOTPSkew || backupCodesPerSet != secrets.BackupCodesPerSet {
		t.Fatal("domain and secrets disagree on TOTP period, skew or backup codes per set")
	}
}

// A field added to the Account must be added to its snapshot too (and AccountSnapshotSchema
// moved on): a snapshot without it would restore an account that decides differently.
func TestAccountSnapshotHasEveryField(t *testing.T) {
	t.Parallel()
	if a, s := reflect.TypeFor[Account]().NumField(), reflect.TypeFor[accountSnapshot]().NumField(); a != s {
		t.Fatalf("the Account has %d fields, its snapshot %d", a, s)
	}
}
