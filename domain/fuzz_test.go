package domain_test

import (
	"errors"
	"testing"

	"github.com/assent-dev/assent/domain"
)

// FuzzDecode feeds arbitrary type strings, versions and bytes to the decoder of every
// registered event: it must never panic, and must fail only with the registry's errors.
func FuzzDecode(f *testing.F) {
	for _, e := range samples {
		typ, v, data, err := domain.Encode(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(typ, v, data)
		f.Add(typ, v, []byte(`{"at":"not a time","devices":[{"public_key":1}]}`))
	}
	f.Add("nope", 1, []byte(`null`))
	f.Fuzz(func(t *testing.T, typ string, version int, data []byte) {
		e, err := domain.Decode(typ, version, data)
		if err != nil {
			if !errors.Is(err, domain.ErrUnknownEventType) && !errors.Is(err, domain.ErrUnknownSchemaVersion) && !errors.Is(err, domain.ErrMalformedEvent) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if e.EventType() != typ {
			t.Fatalf("decoded %q as %q", typ, e.EventType())
		}
		if _, _, _, err := domain.Encode(e); err != nil {
			t.Fatalf("a decoded event does not encode: %v", err)
		}
		// Folding any decoded event must not panic either.
		_, _ = domain.LoadAccount([]domain.Event{e})
		_, _ = domain.LoadChallenge([]domain.Event{e})
		_, _ = domain.LoadEnrollment([]domain.Event{e})
	})
}

func FuzzParseEmail(f *testing.F) {
	for _, s := range []string{"ada@example.com", "Ada <ada@example.com>", "@", "a@b", "\"a b\"@c.d", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := domain.ParseEmail(s)
		if err != nil {
			if !errors.Is(err, domain.ErrInvalidEmail) {
				t.Fatalf("error %v does not wrap ErrInvalidEmail", err)
			}
			return
		}
		again, err := domain.ParseEmail(e.String())
		if err != nil || again != e {
			t.Fatalf("normalized %q does not parse to itself: %v", e, err)
		}
	})
}

func FuzzParseMatchNumber(f *testing.F) {
	for _, s := range []string{"42", "09", "100", " 10", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := domain.ParseMatchNumber(s)
		if err != nil {
			if !errors.Is(err, domain.ErrInvalidNumber) {
				t.Fatalf("error %v does not wrap ErrInvalidNumber", err)
			}
			return
		}
		if again, err := domain.ParseMatchNumber(n.String()); !n.Valid() || err != nil || again != n {
			t.Fatalf("parsed %q to %d, which does not round-trip: %v", s, n, err)
		}
	})
}

func FuzzParseEnrollmentToken(f *testing.F) {
	f.Add("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc")
	f.Add("")
	f.Add("====")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := domain.ParseEnrollmentToken(s)
		if err != nil {
			if !errors.Is(err, domain.ErrInvalidEnrollmentToken) {
				t.Fatalf("error %v does not wrap ErrInvalidEnrollmentToken", err)
			}
			return
		}
		if again, err := domain.ParseEnrollmentToken(tok.Reveal()); err != nil || again != tok {
			t.Fatalf("token does not round-trip: %v", err)
		}
	})
}

func FuzzParseEnrollmentTokenID(f *testing.F) {
	f.Add("0102030000000000000000000000000a")
	f.Add("zz")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := domain.ParseEnrollmentTokenID(s)
		if err != nil {
			if !errors.Is(err, domain.ErrInvalidEnrollmentToken) {
				t.Fatalf("error %v does not wrap ErrInvalidEnrollmentToken", err)
			}
			return
		}
		if id.String() != s {
			t.Fatalf("ID %q prints as %q", s, id)
		}
	})
}
