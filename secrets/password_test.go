package secrets_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/assent-dev/assent/secrets"
)

func TestPasswordHashAndVerify(t *testing.T) {
	t.Parallel()
	p := secrets.DefaultArgon2Params()
	hash, err := p.Hash("correct horse", bytes.NewReader(bytes.Repeat([]byte{7}, 16)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not in PHC format with OWASP's minimum parameters", hash)
	}
	if strings.Contains(hash, "correct horse") {
		t.Fatal("hash holds the password")
	}
	if ok, err := secrets.VerifyPassword("correct horse", hash); !ok || err != nil {
		t.Fatalf("right password: %v, %v", ok, err)
	}
	if ok, err := secrets.VerifyPassword("correct horsf", hash); ok || err != nil {
		t.Fatalf("wrong password: %v, %v", ok, err)
	}
	if secrets.NeedsRehash(hash, p) {
		t.Fatal("NeedsRehash with the same parameters")
	}
	stronger := p
	stronger.Iterations = 3
	if !secrets.NeedsRehash(hash, stronger) {
		t.Fatal("NeedsRehash false after raising iterations")
	}
}

func TestVerifyPasswordRefusesBadHashes(t *testing.T) {
	t.Parallel()
	for _, h := range []string{
		"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=1024,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$t=2,m=19456,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		if _, err := secrets.VerifyPassword("pw", h); !errors.Is(err, secrets.ErrInvalidHash) {
			t.Errorf("VerifyPassword(%q) error = %v, want ErrInvalidHash", h, err)
		}
	}
}

func TestArgon2ParamsValidate(t *testing.T) {
	t.Parallel()
	if err := secrets.DefaultArgon2Params().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	err := secrets.Argon2Params{Memory: 1024, Iterations: 0, Parallelism: 0, SaltLength: 8, KeyLength: 4}.Validate()
	if !errors.Is(err, secrets.ErrInvalidParams) {
		t.Fatalf("error %v does not match ErrInvalidParams", err)
	}
	for _, want := range []string{
		"argon2: option 'memory' must be between 19456 and 4194304 but it's configured as '1024'",
		"argon2: option 'iterations' must be between 1 and 64 but it's configured as '0'",
		"argon2: option 'parallelism' must be between 1 and 64 but it's configured as '0'",
		"argon2: option 'salt_length' must be between 16 and 1024 but it's configured as '8'",
		"argon2: option 'key_length' must be between 16 and 1024 but it's configured as '4'",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	weak := secrets.DefaultArgon2Params()
	weak.Iterations = 1
	if err := weak.Validate(); err == nil || !strings.Contains(err.Error(), "'memory' times 'iterations'") {
		t.Fatalf("m=19 MiB, t=1 is below OWASP's minimum but Validate said %v", err)
	}
}

func FuzzIsPasswordHash(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=,t=,p=$$")
	f.Fuzz(func(t *testing.T, s string) {
		_ = secrets.IsPasswordHash(s) // parsing only: must never panic
	})
}
