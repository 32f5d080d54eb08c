package secrets_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/assent-dev/assent/secrets"
)

func TestGenerateBackupCodes(t *testing.T) {
	t.Parallel()
	codes, err := secrets.GenerateBackupCodes(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != secrets.BackupCodesPerSet {
		t.Fatalf("got %d codes, want %d", len(codes), secrets.BackupCodesPerSet)
	}
	format := regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}$`)
	seen := map[string]bool{}
	for _, c := range codes {
		if !format.MatchString(c.Reveal()) {
			t.Errorf("code %q is not 12 Crockford characters grouped by four", c.Reveal())
		}
		if seen[c.Reveal()] {
			t.Errorf("code %q appears twice", c.Reveal())
		}
		seen[c.Reveal()] = true
	}
}

func TestGenerateBackupCodesSkipsDuplicates(t *testing.T) {
	t.Parallel()
	// The same 8 bytes twice, then distinct ones: the duplicate must be drawn again.
	var src bytes.Buffer
	src.Write(make([]byte, 8))
	for i := range 11 {
		src.Write([]byte{0, 0, 0, 0, 0, 0, 0, byte(i)})
	}
	codes, err := secrets.GenerateBackupCodes(&src)
	if err != nil || len(codes) != secrets.BackupCodesPerSet {
		t.Fatalf("got %d codes, %v", len(codes), err)
	}
	if _, err := secrets.GenerateBackupCodes(bytes.NewReader(nil)); err == nil {
		t.Fatal("generation from an empty reader succeeded")
	}
}

func TestParseBackupCodeNormalizes(t *testing.T) {
	t.Parallel()
	want := "abcd-efgh-jkmn"
	for _, in := range []string{"abcd-efgh-jkmn", "ABCD-EFGH-JKMN", " abcd efgh jkmn ", "abcdefghjkmn", "ab-cd-ef-gh-jk-mn"} {
		c, err := secrets.ParseBackupCode(in)
		if err != nil || c.Reveal() != want {
			t.Errorf("ParseBackupCode(%q) = %q, %v; want %q", in, c.Reveal(), err, want)
		}
	}
	c, err := secrets.ParseBackupCode("O1IL-0000-0000")
	if err != nil || c.Reveal() != "0111-0000-0000" {
		t.Errorf("look-alikes: %q, %v", c.Reveal(), err)
	}
}

func TestParseBackupCodeRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "abcd-efgh-jkm", "abcd-efgh-jkmnp", "abcd-efgh-jkmu", "abcd_efgh_jkmn", "abcd-efgh-jkm€", strings.Repeat("a", 100)} {
		_, err := secrets.ParseBackupCode(in)
		if !errors.Is(err, secrets.ErrInvalidBackupCode) {
			t.Errorf("ParseBackupCode(%q) error = %v, want ErrInvalidBackupCode", in, err)
			continue
		}
		if in != "" && strings.Contains(err.Error(), in) {
			t.Errorf("error %q repeats the input", err)
		}
	}
}

func TestBackupCodeRedacts(t *testing.T) {
	t.Parallel()
	c, _ := secrets.ParseBackupCode("abcd-efgh-jkmn")
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "code", c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %s", c, c), logged.String()} {
		if strings.Contains(s, "abcd") {
			t.Errorf("printed code leaks it: %q", s)
		}
	}
}

func TestCodeHasher(t *testing.T) {
	t.Parallel()
	old, _ := secrets.NewKeyring(testKey(t, "old", 1))
	rotated, _ := secrets.NewKeyring(testKey(t, "new", 2), testKey(t, "old", 1))
	c, _ := secrets.ParseBackupCode("abcd-efgh-jkmn")
	other, _ := secrets.ParseBackupCode("abcd-efgh-jkmp")

	stored := old.CodeHasher().Hash(c)
	if !strings.HasPrefix(stored, "old:") || strings.Contains(stored, "abcd") {
		t.Fatalf("hash %q does not name its key or leaks the code", stored)
	}
	if stored != old.CodeHasher().Hash(c) {
		t.Fatal("hash is not deterministic")
	}
	if stored == old.CodeHasher().Hash(other) {
		t.Fatal("two codes share a hash")
	}
	cands := rotated.CodeHasher().Candidates(c)
	if len(cands) != 2 || !strings.HasPrefix(cands[0], "new:") || cands[1] != stored {
		t.Fatalf("candidates %v: want the primary first and the old key's hash", cands)
	}
	differentKey, _ := secrets.NewKeyring(testKey(t, "old", 3))
	if differentKey.CodeHasher().Hash(c) == stored {
		t.Fatal("hash does not depend on the key")
	}
}

func FuzzParseBackupCode(f *testing.F) {
	for _, s := range []string{"abcd-efgh-jkmn", "ABCD EFGH JKMN", "O1IL-0000-0000", "", "-----", "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := secrets.ParseBackupCode(s)
		if err != nil {
			if !errors.Is(err, secrets.ErrInvalidBackupCode) {
				t.Fatalf("error %v does not wrap ErrInvalidBackupCode", err)
			}
			return
		}
		again, err := secrets.ParseBackupCode(c.Reveal())
		if err != nil || again != c {
			t.Fatalf("normalized form %q does not parse to itself: %v", c.Reveal(), err)
		}
	})
}
