package domain_test

import (
	"errors"
	"testing"

	"github.com/assent-dev/assent/domain"
)

var ikey = mustIntegrationKey("DIWJ8X6AEYOR5OMC6TQ1")

func mustIntegrationKey(s string) domain.IntegrationKey {
	k, err := domain.ParseIntegrationKey(s)
	if err != nil {
		panic(err)
	}
	return k
}

func init() {
	samples = append(samples,
		domain.IntegrationCreated{Key: ikey, Name: "VPN", SealedSecret: sealed, At: t0},
		domain.IntegrationSecretRotated{Key: ikey, SealedSecret: sealed, At: t0},
		domain.IntegrationDisabled{Key: ikey, At: t0},
	)
}

func TestParseIntegrationKey(t *testing.T) {
	t.Parallel()
	for s, ok := range map[string]bool{
		"DIWJ8X6AEYOR5OMC6TQ1":  true,
		"DIWJ8X6AEYOR5OMC6TQ":   false, // 19
		"DIWJ8X6AEYOR5OMC6TQ12": false, // 21
		"XXWJ8X6AEYOR5OMC6TQ1":  false,
		"DIwj8X6AEYOR5OMC6TQ1":  false,
		"DIWJ8X6AEYOR5OMC6TQ-":  false,
		"":                      false,
	} {
		_, err := domain.ParseIntegrationKey(s)
		if (err == nil) != ok {
			t.Errorf("ParseIntegrationKey(%q) = %v, want ok=%v", s, err, ok)
		}
		if !ok && !errors.Is(err, domain.ErrInvalidIntegrationKey) {
			t.Errorf("ParseIntegrationKey(%q) = %v, want ErrInvalidIntegrationKey", s, err)
		}
	}
}

func TestIntegrationDecisions(t *testing.T) {
	t.Parallel()
	created := domain.IntegrationCreated{Key: ikey, Name: "VPN", SealedSecret: sealed, At: t0}
	disabled := domain.IntegrationDisabled{Key: ikey, At: t0}
	run(t, domain.LoadIntegration, []gwt[*domain.Integration]{
		{
			name: "create",
			when: func(i *domain.Integration) domain.Decision {
				return i.Create(domain.CreateIntegration{Key: ikey, Name: "VPN", SealedSecret: sealed}, t0)
			},
			then: []domain.Event{created},
		},
		{
			name:  "create twice",
			given: []domain.Event{created},
			when: func(i *domain.Integration) domain.Decision {
				return i.Create(domain.CreateIntegration{Key: ikey, Name: "VPN", SealedSecret: sealed}, t0)
			},
			err: domain.ErrIntegrationExists,
		},
		{
			name: "create without a name",
			when: func(i *domain.Integration) domain.Decision {
				return i.Create(domain.CreateIntegration{Key: ikey, Name: " ", SealedSecret: sealed}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name: "create without a secret",
			when: func(i *domain.Integration) domain.Decision {
				return i.Create(domain.CreateIntegration{Key: ikey, Name: "VPN"}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name:  "rotate",
			given: []domain.Event{created},
			when: func(i *domain.Integration) domain.Decision {
				return i.RotateSecret(domain.RotateIntegrationSecret{SealedSecret: []byte{7}}, t0)
			},
			then: []domain.Event{domain.IntegrationSecretRotated{Key: ikey, SealedSecret: []byte{7}, At: t0}},
		},
		{
			name: "rotate unknown",
			when: func(i *domain.Integration) domain.Decision {
				return i.RotateSecret(domain.RotateIntegrationSecret{SealedSecret: []byte{7}}, t0)
			},
			err: domain.ErrIntegrationNotFound,
		},
		{
			name:  "rotate disabled",
			given: []domain.Event{created, disabled},
			when: func(i *domain.Integration) domain.Decision {
				return i.RotateSecret(domain.RotateIntegrationSecret{SealedSecret: []byte{7}}, t0)
			},
			err: domain.ErrIntegrationDisabled,
		},
		{
			name:  "disable",
			given: []domain.Event{created},
			when:  func(i *domain.Integration) domain.Decision { return i.Disable(domain.DisableIntegration{}, t0) },
			then:  []domain.Event{disabled},
		},
		{
			name:  "disable twice",
			given: []domain.Event{created, disabled},
			when:  func(i *domain.Integration) domain.Decision { return i.Disable(domain.DisableIntegration{}, t0) },
			err:   domain.ErrIntegrationDisabled,
		},
	})
}

func TestLoadIntegrationFoldsTheLatestSecret(t *testing.T) {
	t.Parallel()
	i, err := domain.LoadIntegration([]domain.Event{
		domain.IntegrationCreated{Key: ikey, Name: "VPN", SealedSecret: sealed, At: t0},
		domain.IntegrationSecretRotated{Key: ikey, SealedSecret: []byte{7}, At: t0},
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(i.SealedSecret()) != string([]byte{7}) || i.Disabled() || i.Name() != "VPN" || i.Key() != ikey {
		t.Fatalf("folded %+v", i)
	}
	if _, err := domain.LoadIntegration([]domain.Event{domain.SignInFailed{AccountID: accountID, At: t0}}); !errors.Is(err, domain.ErrMalformedEvent) {
		t.Fatalf("an account event in an integration stream: %v", err)
	}
}
