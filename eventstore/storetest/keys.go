package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/assent-dev/assent/eventstore"
)

// testSubjectKeys covers eventstore.SubjectKeys for the stores that have it: a key is created
// once (racing creators all get the first), read back, destroyed for good (no second key), and
// a subject with no key is told apart from one whose key was destroyed.
func testSubjectKeys(t *testing.T, open Opener) {
	f := newFixture(t, open)
	k, ok := f.store.(eventstore.SubjectKeys)
	if !ok {
		t.Skip("the store keeps no subject keys")
	}
	subject, other := f.stream("subject"), f.stream("other")
	if _, err := k.SubjectKey(f.ctx, subject); !errors.Is(err, eventstore.ErrKeyNotFound) {
		t.Fatalf("key of a new subject: %v, want ErrKeyNotFound", err)
	}
	var wg sync.WaitGroup
	got := make([][]byte, 8)
	errs := make([]error, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = k.CreateSubjectKey(f.ctx, subject, []byte{byte(i + 1), 0xAA, 0xBB})
		}()
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil {
			t.Fatalf("create %d: %v", i, errs[i])
		}
		if !bytes.Equal(got[i], got[0]) {
			t.Fatalf("racing creators got different keys: %x and %x", got[0], got[i])
		}
	}
	read, err := k.SubjectKey(f.ctx, subject)
	if err != nil || !bytes.Equal(read, got[0]) {
		t.Fatalf("read key %x, %v; want %x", read, err, got[0])
	}
	if _, err := k.CreateSubjectKey(f.ctx, other, []byte("other key, first wrap")); err != nil {
		t.Fatal(err)
	}
	// A rewrap from a key the subject no longer holds does nothing; from the one it holds, it
	// replaces it.
	if err := k.RewrapSubjectKey(f.ctx, other, []byte("not its key"), []byte("wrong")); err != nil {
		t.Fatal(err)
	}
	if err := k.RewrapSubjectKey(f.ctx, other, []byte("other key, first wrap"), []byte("other key")); err != nil {
		t.Fatal(err)
	}
	for range 2 { // destroying twice is no error
		if err := k.DestroySubjectKey(f.ctx, subject); err != nil {
			t.Fatalf("destroy: %v", err)
		}
	}
	if _, err := k.SubjectKey(f.ctx, subject); !errors.Is(err, eventstore.ErrKeyDestroyed) {
		t.Fatalf("key after destruction: %v, want ErrKeyDestroyed", err)
	}
	if _, err := k.CreateSubjectKey(f.ctx, subject, []byte("a new key")); !errors.Is(err, eventstore.ErrKeyDestroyed) {
		t.Fatalf("new key after destruction: %v, want ErrKeyDestroyed", err)
	}
	if read, err := k.SubjectKey(f.ctx, other); err != nil || string(read) != "other key" {
		t.Fatalf("another subject's key after the destruction: %q, %v", read, err)
	}
	// A subject that never had a key can be marked destroyed too (an account from before keys).
	never := f.stream("never")
	if err := k.DestroySubjectKey(f.ctx, never); err != nil {
		t.Fatal(err)
	}
	if _, err := k.SubjectKey(f.ctx, never); !errors.Is(err, eventstore.ErrKeyDestroyed) {
		t.Fatalf("key of a subject destroyed without one: %v, want ErrKeyDestroyed", err)
	}
	// A store that reads many subjects' keys at once tells the same: a key, a destroyed one
	// (nil), none (absent), over more subjects than one statement asks for.
	if r, ok := f.store.(eventstore.SubjectKeysReader); ok {
		asked := []string{subject, other, never}
		for i := range 1200 {
			asked = append(asked, f.stream(fmt.Sprintf("nobody-%d", i)))
		}
		got, err := r.SubjectKeysOf(f.ctx, asked)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || string(got[other]) != "other key" {
			t.Fatalf("SubjectKeysOf gave %d subjects (other's key %q), want 3 with other's key", len(got), got[other])
		}
		for _, sub := range []string{subject, never} {
			if v, ok := got[sub]; !ok || v != nil {
				t.Fatalf("SubjectKeysOf of the destroyed %s: %q, present %v; want nil, present", sub, v, ok)
			}
		}
	}
}
