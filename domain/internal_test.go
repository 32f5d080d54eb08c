package domain

import (
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
