package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"image"
	"testing"

	"github.com/assent-dev/assent/transport/httpapi"
)

// TestEveryServerQRCodeReads draws 100 codes as the server does, of links and otpauth:// URIs
// with random secrets, and reads each back: every one must give its content. (Before the
// server drew whole-pixel modules and the reader fell back to reading a pure barcode, about
// one in 30 failed.)
func TestEveryServerQRCodeReads(t *testing.T) {
	t.Parallel()
	for i := range 100 {
		secret := make([]byte, 20+i%13)
		if _, err := rand.Read(secret); err != nil {
			t.Fatal(err)
		}
		content := fmt.Sprintf("otpauth://totp/Assent:user%d@example.com?algorithm=SHA1&digits=6&issuer=Assent&period=30&secret=%s",
			i, base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret))
		if i%2 == 1 {
			content = "https://auth.example.com/enroll?token=" + base64.RawURLEncoding.EncodeToString(secret)
		}
		qr, err := httpapi.NewQRCode(content)
		if err != nil {
			t.Fatal(err)
		}
		img, _, err := image.Decode(bytes.NewReader(qr.PNG))
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() > 320 || b.Dx() < 160 {
			t.Fatalf("code %d is %d pixels wide, want 160 to 320", i, b.Dx())
		}
		got, err := decodeQR(img)
		if err != nil || got != content {
			t.Fatalf("code %d (%q) reads as %q, %v", i, content, got, err)
		}
	}
}
