package app

import (
	"bytes"
	"errors"
	"regexp"
	"testing"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

func TestIntegrationLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	created, err := f.s.CreateIntegration(f.ctx, "VPN")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^DI[A-Z0-9]{18}$`).MatchString(created.Key.String()) ||
		!regexp.MustCompile(`^[A-Za-z0-9]{40}$`).MatchString(created.Secret) {
		t.Fatalf("keys not of Duo's shape: %q %q", created.Key, created.Secret)
	}
	got, err := f.s.Integration(f.ctx, created.Key)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Secret) != created.Secret || got.Name != "VPN" || got.Disabled {
		t.Fatalf("integration = %+v", got)
	}

	rotated, err := f.s.RotateIntegrationSecret(f.ctx, created.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ = f.s.Integration(f.ctx, created.Key); string(got.Secret) != rotated.Secret || rotated.Secret == created.Secret {
		t.Fatal("the rotated secret is not the integration's")
	}
	if err := f.s.DisableIntegration(f.ctx, created.Key); err != nil {
		t.Fatal(err)
	}
	if got, _ = f.s.Integration(f.ctx, created.Key); !got.Disabled {
		t.Fatal("disabled integration not disabled")
	}
	if _, err := f.s.RotateIntegrationSecret(f.ctx, created.Key); !errors.Is(err, domain.ErrIntegrationDisabled) {
		t.Fatalf("rotate a disabled integration: %v", err)
	}

	other, err := f.s.CreateIntegration(f.ctx, "SSH")
	if err != nil {
		t.Fatal(err)
	}
	list, err := f.s.Integrations(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Key != created.Key || list[1].Key != other.Key || list[0].Secret != nil {
		t.Fatalf("list = %+v", list)
	}

	unknown, _ := domain.ParseIntegrationKey("DIAAAAAAAAAAAAAAAAAA")
	if _, err := f.s.Integration(f.ctx, unknown); !errors.Is(err, domain.ErrIntegrationNotFound) {
		t.Fatalf("unknown integration: %v", err)
	}

	// No secret key is in the log in the clear.
	recs, err := f.store.ReadAll(f.ctx, eventstore.Start, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		for _, secret := range []string{created.Secret, rotated.Secret, other.Secret} {
			if bytes.Contains(r.Data, []byte(secret)) {
				t.Fatalf("%s holds a secret key in the clear", r.Type)
			}
		}
	}
}

func TestCreateIntegrationRefusesABadName(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	if _, err := f.s.CreateIntegration(f.ctx, ""); !errors.Is(err, domain.ErrInvalidCommand) {
		t.Fatalf("empty name: %v", err)
	}
}
