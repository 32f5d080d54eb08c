package config_test

import (
	"strings"
	"testing"

	"github.com/assent-dev/assent/config"
)

// The postgres option (ASSENT_POSTGRES) takes a postgres:// URL with a host and a database;
// every refusal names the option and the rule, and none shows the password.
func TestPostgresOption(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value, eventstore string
		want              []string // empty: valid
	}{
		{value: "postgres://assent:s3cret-pw@db:5432/assent?sslmode=disable"},
		{value: "postgresql://assent:s3cret-pw@10.0.0.5/assent"},
		{value: "mysql://assent:s3cret-pw@db/assent", want: []string{"option 'postgres' must be a connection string such as 'postgres://assent:password@db:5432/assent' but it's configured as something else"}},
		{value: "host=db user=assent password=s3cret-pw", want: []string{"option 'postgres' must be a connection string"}},
		{value: "postgres://assent:s3cret-pw@:5432/assent", want: []string{"option 'postgres' must name a host, as in 'postgres://assent:password@db:5432/assent', but it's configured as 'postgres://assent:xxxxx@:5432/assent'"}},
		{value: "postgres://assent:s3cret-pw@db:99999/assent", want: []string{"option 'postgres' must have a port between 1 and 65535 but it's configured as 'postgres://assent:xxxxx@db:99999/assent'"}},
		{value: "postgres://assent:s3cret-pw@db:5432", want: []string{"option 'postgres' must name a database"}},
		{value: "postgres://assent:s3cret-pw@db/assent", eventstore: "esdb://es:2113", want: []string{"options 'postgres' and 'eventstore' must not both be set"}},
	} {
		c := config.Defaults()
		env := map[string]string{"ASSENT_POSTGRES": tc.value, "ASSENT_EVENTSTORE": tc.eventstore}
		if err := c.FromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok && v != "" }); err != nil {
			t.Fatal(err)
		}
		if c.Postgres != tc.value {
			t.Fatalf("ASSENT_POSTGRES gave %q", c.Postgres)
		}
		err := c.Validate()
		if len(tc.want) == 0 {
			if err != nil {
				t.Errorf("%q: %v", tc.value, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%q validated", tc.value)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: the error does not say %q; it says:\n%v", tc.value, w, err)
			}
		}
		if strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("%q: the error shows the password: %v", tc.value, err)
		}
	}
	c := config.Defaults()
	c.Postgres = "postgres://assent:s3cret-pw@db/assent"
	if got := c.Get("postgres"); got != "" {
		t.Errorf("Get shows the connection string: %q", got)
	}
}

// TestEventstoreOptionTakesAPostgresURL: --eventstore postgres://… (and ASSENT_EVENTSTORE) names
// the PostgreSQL backend, as --postgres does; esdb:// still names EventStoreDB.
func TestEventstoreOptionTakesAPostgresURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ value, postgres, eventstore string }{
		{"postgres://assent:s3cret-pw@db:5432/assent", "postgres://assent:s3cret-pw@db:5432/assent", ""},
		{"postgresql://assent@db/assent", "postgresql://assent@db/assent", ""},
		{"esdb://es:2113?tls=false", "", "esdb://es:2113?tls=false"},
	} {
		c := config.Defaults()
		if err := c.Set("eventstore", tc.value); err != nil {
			t.Fatal(err)
		}
		if c.Postgres != tc.postgres || c.EventStore != tc.eventstore {
			t.Errorf("--eventstore %q: postgres %q, eventstore %q; want %q and %q", tc.value, c.Postgres, c.EventStore, tc.postgres, tc.eventstore)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("--eventstore %q: %v", tc.value, err)
		}
	}
	c := config.Defaults()
	_ = c.Set("eventstore", "mysql://db/assent")
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "or a PostgreSQL one starting with 'postgres://'") {
		t.Errorf("a foreign connection string: %v", err)
	}
}
