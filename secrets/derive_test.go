package secrets_test

import (
	"bytes"
	"testing"

	"github.com/assent-dev/assent/secrets"
)

// TestDeriveKeysNamesEachKey derives one purpose's key from every key of a rotated keyring:
// the primary's first and equal to DeriveKey, each named by its key and the same as the key
// derived before the rotation, so that what an old key made can still be checked.
func TestDeriveKeysNamesEachKey(t *testing.T) {
	t.Parallel()
	before, _ := secrets.NewKeyring(testKey(t, "old", 1))
	rotated, _ := secrets.NewKeyring(testKey(t, "new", 2), testKey(t, "old", 1), testKey(t, "older", 3))
	keys := rotated.DeriveKeys("session")
	if len(keys) != 3 || keys[0].ID != "new" || !bytes.Equal(keys[0].Key, rotated.DeriveKey("session")) {
		t.Fatalf("DeriveKeys does not start with the primary's key: %v", keys)
	}
	byID := map[string][]byte{}
	for _, k := range keys {
		if len(k.Key) != 32 {
			t.Fatalf("key %q has %d bytes", k.ID, len(k.Key))
		}
		byID[k.ID] = k.Key
	}
	if !bytes.Equal(byID["old"], before.DeriveKey("session")) {
		t.Fatal("the old key's derived key changed with the rotation")
	}
	if bytes.Equal(byID["old"], byID["new"]) || bytes.Equal(byID["old"], byID["older"]) {
		t.Fatal("two keys derive the same key")
	}
	if bytes.Equal(rotated.DeriveKey("session"), rotated.DeriveKey("audit.checkpoint")) {
		t.Fatal("two purposes derive the same key")
	}
}
