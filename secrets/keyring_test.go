package secrets_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/assent-dev/assent/secrets"
)

func testKey(t testing.TB, id string, fill byte) secrets.Key {
	t.Helper()
	k, err := secrets.NewKey(id, bytes.Repeat([]byte{fill}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyringSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	kr, err := secrets.NewKeyring(testKey(t, "k1", 1))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := kr.Seal([]byte("totp secret"), []byte("account-1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("totp secret")) {
		t.Fatal("sealed bytes hold the plaintext")
	}
	if id, err := secrets.SealedKeyID(sealed); err != nil || id != "k1" {
		t.Fatalf("SealedKeyID = %q, %v; want k1", id, err)
	}
	got, err := kr.Open(sealed, []byte("account-1"))
	if err != nil || string(got) != "totp secret" {
		t.Fatalf("Open = %q, %v", got, err)
	}
}

func TestKeyringRotation(t *testing.T) {
	t.Parallel()
	old, _ := secrets.NewKeyring(testKey(t, "old", 1))
	sealed, err := old.Seal([]byte("s"), nil)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := secrets.NewKeyring(testKey(t, "new", 2), testKey(t, "old", 1))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rotated.Open(sealed, nil); err != nil || string(got) != "s" {
		t.Fatalf("rotated keyring cannot open an old ciphertext: %q, %v", got, err)
	}
	resealed, _ := rotated.Seal([]byte("s"), nil)
	if id, _ := secrets.SealedKeyID(resealed); id != "new" {
		t.Fatalf("Seal used key %q, want the primary 'new'", id)
	}
	if _, err := old.Open(resealed, nil); !errors.Is(err, secrets.ErrUnknownKey) {
		t.Fatalf("opening with a keyring that lacks the key: %v, want ErrUnknownKey", err)
	}
}

func TestKeyringRefusesTampering(t *testing.T) {
	t.Parallel()
	kr, _ := secrets.NewKeyring(testKey(t, "k1", 1), testKey(t, "k2", 2))
	sealed, _ := kr.Seal([]byte("secret"), []byte("ctx"))
	flipLast := append([]byte(nil), sealed...)
	flipLast[len(flipLast)-1] ^= 1
	// Renaming the key ID to another key of the ring must fail: the header is authenticated.
	renamed := append([]byte(nil), sealed...)
	renamed[3] = '2'
	for name, c := range map[string]struct {
		sealed, ad []byte
	}{
		"flipped tag":     {flipLast, []byte("ctx")},
		"other context":   {sealed, []byte("other")},
		"renamed key":     {renamed, []byte("ctx")},
		"truncated":       {sealed[:10], []byte("ctx")},
		"empty":           {nil, nil},
		"unknown version": {append([]byte{9}, sealed[1:]...), []byte("ctx")},
		"zero-length key": {[]byte{1, 0, 1, 2, 3}, nil},
		"header only":     {sealed[:4], []byte("ctx")},
	} {
		if _, err := kr.Open(c.sealed, c.ad); !errors.Is(err, secrets.ErrTampered) {
			t.Errorf("%s: Open error = %v, want ErrTampered", name, err)
		}
	}
}

func TestKeyringNoncesComeFromInjectedReader(t *testing.T) {
	t.Parallel()
	kr, _ := secrets.NewKeyring(testKey(t, "k1", 1))
	a, _ := kr.WithRand(bytes.NewReader(make([]byte, 12))).Seal([]byte("x"), nil)
	b, _ := kr.WithRand(bytes.NewReader(make([]byte, 12))).Seal([]byte("x"), nil)
	if !bytes.Equal(a, b) {
		t.Fatal("same nonce source gave different ciphertexts")
	}
	if _, err := kr.WithRand(bytes.NewReader(nil)).Seal([]byte("x"), nil); err == nil {
		t.Fatal("Seal with an exhausted reader succeeded")
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	material := bytes.Repeat([]byte{0xfb}, 32)
	for _, spec := range []string{
		"k1:" + base64.StdEncoding.EncodeToString(material),
		"k1:" + base64.RawStdEncoding.EncodeToString(material),
		"k1:" + base64.URLEncoding.EncodeToString(material),
		" k1:" + base64.RawURLEncoding.EncodeToString(material) + "\n",
	} {
		k, err := secrets.ParseKey(spec)
		if err != nil || k.ID() != "k1" {
			t.Errorf("ParseKey(%q) = %v, %v", spec, k, err)
		}
	}
	for _, spec := range []string{
		"", "nocolon", ":" + base64.StdEncoding.EncodeToString(material), "k1:!!!",
		"k1:" + base64.StdEncoding.EncodeToString(material[:16]), "bad id:" + base64.StdEncoding.EncodeToString(material),
	} {
		if _, err := secrets.ParseKey(spec); !errors.Is(err, secrets.ErrInvalidKey) {
			t.Errorf("ParseKey(%q) error = %v, want ErrInvalidKey", spec, err)
		}
	}
	secret := base64.StdEncoding.EncodeToString(material)
	if _, err := secrets.ParseKey("k1:" + secret[:20]); err != nil && strings.Contains(err.Error(), secret[:20]) {
		t.Fatal("error message repeats key material")
	}
}

func TestNewKeyringRefusesDuplicateIDs(t *testing.T) {
	t.Parallel()
	if _, err := secrets.NewKeyring(testKey(t, "k", 1), testKey(t, "k", 2)); !errors.Is(err, secrets.ErrInvalidKey) {
		t.Fatalf("duplicate key IDs: %v, want ErrInvalidKey", err)
	}
	if _, err := secrets.NewKeyring(secrets.Key{}); !errors.Is(err, secrets.ErrInvalidKey) {
		t.Fatalf("zero key: %v, want ErrInvalidKey", err)
	}
	if _, err := secrets.ParseKeyring(); !errors.Is(err, secrets.ErrInvalidKey) {
		t.Fatalf("no keys: %v, want ErrInvalidKey", err)
	}
}

func FuzzKeyringOpen(f *testing.F) {
	kr, _ := secrets.NewKeyring(testKey(f, "k1", 1))
	sealed, _ := kr.Seal([]byte("seed"), nil)
	f.Add(sealed, []byte(nil))
	f.Add([]byte{1, 2, 'k', '1'}, []byte("x"))
	f.Fuzz(func(t *testing.T, sealed, ad []byte) {
		if _, err := kr.Open(sealed, ad); err != nil && !errors.Is(err, secrets.ErrTampered) && !errors.Is(err, secrets.ErrUnknownKey) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}

func FuzzParseKey(f *testing.F) {
	f.Add("k1:" + base64.StdEncoding.EncodeToString(make([]byte, 32)))
	f.Add("k1:")
	f.Add(":::")
	f.Fuzz(func(t *testing.T, spec string) {
		k, err := secrets.ParseKey(spec)
		if err == nil && k.ID() == "" {
			t.Fatal("parsed a key without an ID")
		}
	})
}
