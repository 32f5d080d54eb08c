package keyfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreate(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	first, err := LoadOrCreate(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, Name))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("keys file: %v, mode %v; want 0600", err, info.Mode().Perm())
	}
	sealed, err := first.Seal([]byte("totp secret"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := LoadOrCreate(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := second.Open(sealed, []byte("ad")); err != nil || string(plain) != "totp secret" {
		t.Fatalf("the second start does not open what the first sealed: %v", err)
	}
	configured, err := LoadOrCreate(t.TempDir(), "k2:"+strings.Repeat("B", 43)+",k1:"+strings.Repeat("A", 43))
	if err != nil || configured.PrimaryKeyID() != "k2" {
		t.Fatalf("configured keyring: %v", err)
	}
	if _, err := LoadOrCreate(t.TempDir(), "k2:short"); err == nil {
		t.Fatal("a bad configured key was accepted")
	}
	if err := os.Chmod(filepath.Join(dir, Name), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(dir, ""); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a world-readable keys file: %v, want a refusal", err)
	}
}
