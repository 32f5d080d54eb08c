package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	duo "github.com/duosecurity/duo_api_golang"
	"github.com/duosecurity/duo_api_golang/authapi"

	"github.com/assent-dev/assent/config"
)

// testCA is a private certificate authority, as an operator without a public one runs.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Assent test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue writes a certificate for the DNS name host (no IP entry, as the PAM module checks DNS
// names only) and its key to certPath and keyPath.
func (ca *testCA) issue(t testing.TB, host string, serial int64, certPath, keyPath string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	// Written to temporary names and renamed, as a renewal tool does.
	write := func(path, typ string, b []byte) {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write(keyPath, "EC PRIVATE KEY", kder)
	write(certPath, "CERTIFICATE", der)
}

func TestServeTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := newTestCA(t)
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.issue(t, "auth.test", 10, certPath, keyPath)

	cfg := config.Defaults()
	cfg.DataDir, cfg.Listen, cfg.TLSCert, cfg.TLSKey = filepath.Join(dir, "data"), "127.0.0.1:0", certPath, keyPath
	srv, err := start(context.Background(), cfg, slog.New(slog.DiscardHandler), startOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })
	k, err := srv.App.CreateIntegration(context.Background(), "SSH")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(srv.Addr())

	// Duo's official client, configured with the DNS name and trusting the private CA through
	// a custom http.Client (docs/duo.md); the name resolves to loopback.
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, srv.Addr())
		},
	}
	c := duo.NewDuoApi(k.Key.String(), k.Secret, "auth.test:"+port, "assent-test")
	c.SetCustomHTTPClient(&http.Client{Transport: tr})
	check, err := authapi.NewAuthApi(*c).Check()
	if err != nil || check.Stat != "OK" {
		t.Fatalf("check over TLS: %+v %v", check, err)
	}

	// Plain HTTP is not served.
	if resp, err := http.Get("http://" + srv.Addr() + "/healthz"); err == nil && resp.StatusCode == http.StatusOK {
		t.Fatal("plain HTTP answered on the TLS listener")
	}

	// assent healthcheck speaks TLS, trusting the configured certificate.
	out, err := runAdmin(t, "healthcheck", "--listen", srv.Addr(), "--tls-cert", certPath)
	if err != nil || !strings.Contains(out, "ok") {
		t.Fatalf("healthcheck over TLS: %q %v", out, err)
	}
	if _, err := runAdmin(t, "healthcheck", "--listen", srv.Addr()); err == nil {
		t.Fatal("a plain-HTTP healthcheck of a TLS server succeeded")
	}

	// A renewed certificate is served from the next handshake a second later.
	serial := func() int64 {
		conn, err := tls.Dial("tcp", srv.Addr(), &tls.Config{RootCAs: ca.pool, ServerName: "auth.test"})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if got := serial(); got != 10 {
		t.Fatalf("serial %d", got)
	}
	ca.issue(t, "auth.test", 11, certPath, keyPath)
	deadline := time.Now().Add(10 * time.Second)
	for serial() != 11 {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was never served")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestTLSOptionsGoTogether(t *testing.T) {
	t.Parallel()
	cfg := config.Defaults()
	cfg.TLSCert = "cert.pem"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "option 'tls-cert' must be set together with 'tls-key'") {
		t.Fatalf("validate: %v", err)
	}
}
