package domain

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// LoginContext is what a challenge tells the device about the sign-in it asks about.
type LoginContext struct {
	UserAgent string `json:"user_agent" assent:"personal"`
	IP        string `json:"ip" assent:"personal"`
	// Place is the approximate place from GeoIP, empty when no database is configured.
	Place string `json:"place,omitempty" assent:"personal"`
	// At is the time of the sign-in, whole seconds in UTC.
	At time.Time `json:"at"`
	// IssuedAt is when the challenge was decided, in UTC with the clock's full precision, so
	// that a device can tell how long the challenge took to reach it. It is not part of the
	// digest, and challenges issued before it existed have none.
	IssuedAt time.Time `json:"issued_at,omitzero"`

	// The fields below come from an application that asks through the Duo-compatible Auth
	// API (integration.go); they are empty for Assent's own sign-ins.

	// App is the name of the integration that asks.
	App string `json:"app,omitempty"`
	// Type is the application's word for the request (Duo's "type"), e.g. "Login request".
	Type string `json:"type,omitempty"`
	// DisplayName is the user name the application shows (Duo's "display_username").
	DisplayName string `json:"display_name,omitempty" assent:"personal"`
	// PushInfo are the application's key/value pairs to show (Duo's "pushinfo"), in order.
	PushInfo []PushInfoItem `json:"push_info,omitempty" assent:"personal"`
	// NoNumber is set when the person approves without typing a number: the application's
	// page shows none (number matching is off for the integration). The approval then signs
	// the number 0.
	NoNumber bool `json:"no_number,omitempty"`

	// LinkingDevice is the name of a new device being linked from the phone (the challenge
	// of PhoneLinkBegin): the devices already linked show "A new device, NAME, is being
	// linked" instead of an ordinary sign-in request. Empty for every other challenge.
	LinkingDevice string `json:"linking_device,omitempty" assent:"personal"`
}

// PushInfoItem is one key/value pair an application asks the device to show.
type PushInfoItem struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// integrated reports whether the context carries any field of an integration.
func (c LoginContext) integrated() bool {
	return c.App != "" || c.Type != "" || c.DisplayName != "" || len(c.PushInfo) > 0 || c.NoNumber
}

// Digest returns SHA-256 of the context's canonical form, which device clients rebuild
// from the context they display:
//
//	assent.login-context.v1\n
//	user_agent:<byte length>:<value>\n
//	ip:<byte length>:<value>\n
//	place:<byte length>:<value>\n
//	at:<unix seconds>\n
//
// The lengths make the form unambiguous whatever the values hold. A context that carries an
// integration's fields (App, Type, DisplayName, PushInfo, NoNumber) has the v2 form, so that
// the device's signature covers what it showed:
//
//	assent.login-context.v2\n
//	user_agent, ip and place as in v1
//	app:<byte length>:<value>\n
//	type:<byte length>:<value>\n
//	display_name:<byte length>:<value>\n
//	push_info:<count>\n
//	<byte length>:<key>:<byte length>:<value>\n   (one line per pair, in order)
//	no_number:<0|1>\n
//	at:<unix seconds>\n
//
// A context of a device being linked from the phone (LinkingDevice) has the v3 form: the v2
// form under its own first line, with one more line before the time, so that an approval
// covers the name the device showed:
//
//	assent.login-context.v3\n
//	user_agent ... no_number as in v2
//	linking_device:<byte length>:<value>\n
//	at:<unix seconds>\n
func (c LoginContext) Digest() [sha256.Size]byte {
	var b strings.Builder
	v3 := c.LinkingDevice != ""
	v2 := c.integrated() || v3
	switch {
	case v3:
		b.WriteString("assent.login-context.v3\n")
	case v2:
		b.WriteString("assent.login-context.v2\n")
	default:
		b.WriteString("assent.login-context.v1\n")
	}
	for _, f := range [...][2]string{{"user_agent", c.UserAgent}, {"ip", c.IP}, {"place", c.Place}} {
		fmt.Fprintf(&b, "%s:%d:%s\n", f[0], len(f[1]), f[1])
	}
	if v2 {
		for _, f := range [...][2]string{{"app", c.App}, {"type", c.Type}, {"display_name", c.DisplayName}} {
			fmt.Fprintf(&b, "%s:%d:%s\n", f[0], len(f[1]), f[1])
		}
		fmt.Fprintf(&b, "push_info:%d\n", len(c.PushInfo))
		for _, p := range c.PushInfo {
			fmt.Fprintf(&b, "%d:%s:%d:%s\n", len(p.Key), p.Key, len(p.Value), p.Value)
		}
		no := 0
		if c.NoNumber {
			no = 1
		}
		fmt.Fprintf(&b, "no_number:%d\n", no)
	}
	if v3 {
		fmt.Fprintf(&b, "linking_device:%d:%s\n", len(c.LinkingDevice), c.LinkingDevice)
	}
	b.WriteString("at:" + strconv.FormatInt(c.At.Unix(), 10) + "\n")
	return sha256.Sum256([]byte(b.String()))
}

// SignedAnswerPayload returns the bytes a device signs with its Ed25519 key to answer a
// challenge, and that the server verifies. Approvals carry the typed number; denials and
// fraud reports carry 0 ("00"). contextDigest is LoginContext.Digest of the challenge.
// The form is ASCII:
//
//	assent.challenge-answer.v1\n
//	challenge:<uuid, lower-case>\n
//	answer:<approve|deny|fraud>\n
//	number:<two digits>\n
//	context:<hex SHA-256, lower-case>\n
func SignedAnswerPayload(challengeID uuid.UUID, answer Answer, number MatchNumber, contextDigest []byte) []byte {
	var b strings.Builder
	b.WriteString("assent.challenge-answer.v1\n")
	b.WriteString("challenge:" + challengeID.String() + "\n")
	b.WriteString("answer:" + answer.String() + "\n")
	b.WriteString("number:" + number.String() + "\n")
	b.WriteString("context:" + hex.EncodeToString(contextDigest) + "\n")
	return []byte(b.String())
}

// VerifyAnswer reports whether sig is publicKey's signature of the answer's payload: the check
// the server makes when a device answers, made again when the history shows the answer.
func VerifyAnswer(publicKey []byte, sig []byte, challengeID uuid.UUID, answer Answer, number MatchNumber, contextDigest []byte) bool {
	return verifyAnswer(publicKey, sig, challengeID, answer, number, contextDigest)
}

// verifyAnswer reports whether sig is publicKey's signature of the answer's payload.
func verifyAnswer(publicKey []byte, sig []byte, challengeID uuid.UUID, answer Answer, number MatchNumber, contextDigest []byte) bool {
	if len(publicKey) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(publicKey, SignedAnswerPayload(challengeID, answer, number, contextDigest), sig)
}

// DeviceAuthPayload returns the bytes a device signs with its Ed25519 key to prove itself
// when it opens its socket: the server's one-time nonce, bound to the device's ID. The form is
//
//	assent.device-auth.v1\n
//	device:<uuid, lower-case>\n
//	nonce:<hex>\n
func DeviceAuthPayload(deviceID uuid.UUID, nonce []byte) []byte {
	return []byte("assent.device-auth.v1\ndevice:" + deviceID.String() + "\nnonce:" + hex.EncodeToString(nonce) + "\n")
}

// DeviceRequestPayload returns the bytes a device signs with its Ed25519 key to make an HTTP
// request as itself (such as reading its account's history): the method, the path with its
// query as sent, and the time, in whole seconds, when it signed. The form is ASCII:
//
//	assent.device-request.v1\n
//	device:<uuid, lower-case>\n
//	method:<method>\n
//	path:<path and query>\n
//	at:<unix seconds>\n
func DeviceRequestPayload(deviceID uuid.UUID, method, pathAndQuery string, at time.Time) []byte {
	return []byte("assent.device-request.v1\ndevice:" + deviceID.String() + "\nmethod:" + method + "\npath:" + pathAndQuery + "\nat:" + strconv.FormatInt(at.Unix(), 10) + "\n")
}

// SignatureCheck is the server's check of a device's signed answer, as a sign-in's history
// tells it. Its slug is what the history APIs carry.
type SignatureCheck struct{ slug string }

// Signature checks.
var (
	// SignatureNone: the entry has no signed answer (a code, a password, no answer).
	SignatureNone = SignatureCheck{""}
	// SignatureVerified: the device's Ed25519 signature verifies over the challenge, the
	// answer, the number and the digest of the context it was shown, recomputed from the
	// entry, with the key the challenge was sent to.
	SignatureVerified = SignatureCheck{"verified"}
	// SignatureFailed: it does not. An honest log never gives it.
	SignatureFailed = SignatureCheck{"failed"}
)

var signatureChecks = []SignatureCheck{SignatureNone, SignatureVerified, SignatureFailed}

// String returns the check's stable slug: verified, failed, or "" for none.
func (c SignatureCheck) String() string { return c.slug }

// ParseSignatureCheck returns the check whose slug is s ("" is SignatureNone).
func ParseSignatureCheck(s string) (SignatureCheck, error) {
	for _, c := range signatureChecks {
		if c.slug == s {
			return c, nil
		}
	}
	return SignatureNone, fmt.Errorf("unknown signature check %q", s)
}
