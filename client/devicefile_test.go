package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/domain"
)

// TestDeviceFileLinksSavesForgetsAndKeepsToOneServer links a device kept in a file through
// an enrollment endpoint on loopback: the first link makes the device and its directory
// (owner only), the file then holds the link; a link to another server is refused before any
// request; Forget drops a link from the file.
func TestDeviceFileLinksSavesForgetsAndKeepsToOneServer(t *testing.T) {
	t.Parallel()
	device, account := uuid.New(), uuid.New()
	var enrolled atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Token     string `json:"token"`
			PublicKey []byte `json:"public_key"`
			Name      string `json:"name"`
		}
		if r.Method != http.MethodPost || r.URL.Path != "/v1/devices/enrollments" || json.NewDecoder(r.Body).Decode(&in) != nil ||
			in.Token != "tok-1" || len(in.PublicKey) != 32 || in.Name != "laptop" {
			t.Errorf("unexpected enrollment %s %s %+v", r.Method, r.URL.Path, in)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		enrolled.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(client.LinkResult{DeviceID: device, AccountID: account, Email: "a@example.com",
			TOTPSecret: "JBSWY3DPEHPK3PXP", MFAEnabled: true, BackupCodes: []string{"1111-2222"}})
	}))
	defer srv.Close()

	dir := filepath.Join(t.TempDir(), "config", "assent")
	f := client.DeviceFile{Path: filepath.Join(dir, "device.json"), Name: "laptop", Platform: "linux"}
	if _, err := f.Load(); !errors.Is(err, client.ErrNoDeviceFile) {
		t.Fatalf("Load before any link: %v, want ErrNoDeviceFile", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, res, err := f.Link(ctx, srv.URL+"/enroll?token=tok-1")
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != device || d.Server != srv.URL || res.Email != "a@example.com" || len(res.BackupCodes) != 1 {
		t.Fatalf("linked device %s on %s, result for %s", d.ID, d.Server, res.Email)
	}
	for path, mode := range map[string]os.FileMode{dir: 0o700, f.Path: 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != mode {
			t.Fatalf("%s: %v, want mode %v", path, err, mode)
		}
	}
	saved, err := f.Load()
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := saved.Link(account); !ok || l.Email != "a@example.com" || saved.Name != "laptop" || !saved.PublicKey().Equal(d.PublicKey()) {
		t.Fatalf("the file holds device %q with links %v", saved.Name, len(saved.Links))
	}

	_, _, err = f.Link(ctx, "http://127.0.0.1:1/enroll?token=tok-1")
	var other *client.OtherServerError
	if !errors.As(err, &other) || other.Linked != srv.URL || other.Asked != "http://127.0.0.1:1" {
		t.Fatalf("a link to another server: %v", err)
	}
	if enrolled.Load() != 1 {
		t.Fatalf("%d enrollments, want 1", enrolled.Load())
	}

	if gone, err := f.Forget(account); err != nil || !gone {
		t.Fatalf("Forget: %v %v", gone, err)
	}
	if gone, err := f.Forget(account); err != nil || gone {
		t.Fatalf("Forget again: %v %v", gone, err)
	}
	if saved, err := f.Load(); err != nil {
		t.Fatal(err)
	} else if len(saved.Links) != 0 {
		t.Fatalf("after Forget the file holds %d links", len(saved.Links))
	}
}

// TestPhoneLinkNotApprovedTellsTheOutcome: when the second factor of a phone link is denied
// on another device, AwaitApproval says so with the domain state, and nothing is saved.
func TestPhoneLinkNotApprovedTellsTheOutcome(t *testing.T) {
	t.Parallel()
	challenge := uuid.New()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v1/devices/phone-link":
			json.NewEncoder(w).Encode(client.PhoneLinkStart{AccountID: uuid.New(), LoginToken: "lt",
				Challenge: &client.Challenge{ID: challenge, Number: "42", Devices: 1}})
		case r.Method == http.MethodGet && r.URL.Path == "/v1/logins/"+challenge.String() && r.Header.Get("X-Login-Token") == "lt":
			json.NewEncoder(w).Encode(client.LoginStatus{ChallengeID: challenge, Status: "denied"})
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL)
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	f := client.DeviceFile{Path: filepath.Join(t.TempDir(), "device.json"), Name: "phone", Platform: "test"}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := f.OpenFor(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := f.BeginPhoneLink(ctx, d, srv.URL, "a@example.com", "password")
	if err != nil || pl.Start.Challenge == nil || pl.Start.Challenge.ID != challenge {
		t.Fatalf("BeginPhoneLink: %v", err)
	}
	err = pl.AwaitApproval(ctx)
	var na *client.NotApprovedError
	if !errors.As(err, &na) || na.State != domain.StateOf(domain.OutcomeDenied) || err.Error() != "the sign-in was not approved: denied" {
		t.Fatalf("AwaitApproval: %v", err)
	}
	if _, err := f.Load(); !errors.Is(err, client.ErrNoDeviceFile) {
		t.Fatalf("a device file was saved: %v", err)
	}
}
