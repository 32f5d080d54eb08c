package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certFiles serves the certificate of a PEM certificate file and key file, and loads them again
// when either changes (a renewal by certbot or a secret mount), at most once a second, on the
// next handshake. A change that does not load (a half-written file) keeps the certificate in
// use and is logged; the next handshake tries again.
type certFiles struct {
	certPath, keyPath string
	log               *slog.Logger

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     string // the files' sizes and modification times when cert was loaded
	checkedAt time.Time
}

// newCertFiles loads the pair once; an error here stops the start.
func newCertFiles(certPath, keyPath string, log *slog.Logger) (*certFiles, error) {
	f := &certFiles{certPath: certPath, keyPath: keyPath, log: log}
	stamp, err := f.stampNow()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("tls: option 'tls-cert' and 'tls-key' must name a PEM certificate and its key: %w", err)
	}
	f.cert, f.stamp, f.checkedAt = &cert, stamp, time.Now()
	return f, nil
}

func (f *certFiles) stampNow() (string, error) {
	var stamp string
	for _, p := range []string{f.certPath, f.keyPath} {
		fi, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("tls: %w", err)
		}
		stamp += fmt.Sprintf("%d:%d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return stamp, nil
}

// getCertificate is tls.Config.GetCertificate.
func (f *certFiles) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if time.Since(f.checkedAt) >= time.Second {
		f.checkedAt = time.Now()
		if stamp, err := f.stampNow(); err == nil && stamp != f.stamp {
			if cert, err := tls.LoadX509KeyPair(f.certPath, f.keyPath); err == nil {
				f.cert, f.stamp = &cert, stamp
				f.log.Info("tls certificate reloaded", "cert", f.certPath)
			} else {
				f.log.Error("tls certificate changed but does not load; serving the previous one", "cert", f.certPath, "err", err)
			}
		}
	}
	return f.cert, nil
}

// tlsConfig is the server's TLS configuration over files.
func (f *certFiles) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: f.getCertificate, NextProtos: []string{"http/1.1"}}
}
