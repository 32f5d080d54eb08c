// Package keyfile keeps a node's keyring in its data directory: keys.json, created with one
// random key on the first run and readable by its owner only, unless the keys are configured.
package keyfile

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/assent-dev/assent/secrets"
)

// Name is the name of the keyring file LoadOrCreate keeps in the data directory.
const Name = "keys.json"

// keysFile is the JSON form of the file: keys in the form "id:base64key", primary first.
type keysFile struct {
	Keys []string `json:"keys"`
}

// LoadOrCreate returns the server's keyring. When configured is not empty it is the
// keyring: comma-separated "id:base64key" keys, primary first (the ASSENT_SECRET_KEYS form),
// and no file is read. Otherwise it reads <dataDir>/keys.json, creating it on first run with
// one new random key and mode 0600, so that `assent serve` stays one command. A keys.json
// that others may read (group or world permissions) is refused. To rotate, put a new key
// first in the list and keep the old ones after it.
func LoadOrCreate(dataDir, configured string) (*secrets.Keyring, error) {
	if strings.TrimSpace(configured) != "" {
		kr, err := secrets.ParseKeyring(strings.Split(configured, ",")...)
		if err != nil {
			return nil, fmt.Errorf("keyring: option 'secret-keys': %w", err)
		}
		return kr, nil
	}
	path := filepath.Join(dataDir, Name)
	kr, err := readName(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return kr, err
	}
	if err := createName(dataDir, path); err != nil {
		return nil, err
	}
	return readName(path)
}

func readName(path string) (*secrets.Keyring, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keyring: file '%s' must have mode 0600 but it has %#o", path, info.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	var f keysFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("keyring: file '%s' is not valid JSON of the form {\"keys\": [\"id:base64key\"]}", path)
	}
	kr, err := secrets.ParseKeyring(f.Keys...)
	if err != nil {
		return nil, fmt.Errorf("keyring: file '%s': %w", path, err)
	}
	return kr, nil
}

// createName writes a new key to a temporary file and links it into place, so that two
// servers starting at once cannot both create one, and no reader sees a half-written file.
func createName(dataDir, path string) error {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	var material [secrets.KeySize]byte
	var id [4]byte
	if _, err := rand.Read(material[:]); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	if _, err := rand.Read(id[:]); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	raw, err := json.MarshalIndent(keysFile{Keys: []string{"k" + hex.EncodeToString(id[:]) + ":" + base64.RawURLEncoding.EncodeToString(material[:])}}, "", "  ")
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	tmp, err := os.CreateTemp(dataDir, ".keys-*.json")
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("keyring: %w", err)
	}
	if _, err := tmp.Write(append(raw, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("keyring: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("keyring: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("keyring: %w", err)
	}
	return nil
}
