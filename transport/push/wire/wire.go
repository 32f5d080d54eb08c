// Package wire is the device socket's protocol, shared by the server (transport/push) and the
// Go client (client): the messages both ends exchange and the close codes that tell a device
// whether to connect again. docs/api.md describes it for other clients.
package wire

import (
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/apierror"
)

// Message types.
const (
	TypeHello     = "hello"     // server: the nonce to sign
	TypeAuth      = "auth"      // device: its ID and signature
	TypeReady     = "ready"     // server: authenticated; the accounts linked now
	TypeChallenge = "challenge" // server: "Is this you signing in?"
	TypeAck       = "ack"       // device: the challenge was delivered
	TypeAnswer    = "answer"    // device: a signed answer
	TypeResult    = "result"    // server: the verdict on an answer, or on a bad message
	TypeOutcome   = "outcome"   // server: a challenge shown here was decided
	TypeLinked    = "linked"    // server: the device serves one more account
	TypeUnlinked  = "unlinked"  // server: the device lost an account
)

// Message is one frame of the device socket, in either direction; Type says which fields
// are set.
type Message struct {
	Type string `json:"type"`
	// hello (server): the nonce the device signs.
	Nonce []byte `json:"nonce,omitempty"`
	// auth (device): the device and its signature of domain.DeviceAuthPayload.
	DeviceID  uuid.UUID `json:"device_id,omitzero"`
	Signature []byte    `json:"signature,omitempty"`
	// ready (server): every account linked to the device, an empty list when none is left.
	Accounts []uuid.UUID `json:"accounts,omitempty"`
	// challenge (server).
	Challenge *Challenge `json:"challenge,omitempty"`
	// outcome (server).
	Outcome *Outcome `json:"outcome,omitempty"`
	// unlinked, linked (server).
	AccountID uuid.UUID `json:"account_id,omitzero"`
	// ack, answer (device); result (server).
	ChallengeID uuid.UUID `json:"challenge_id,omitzero"`
	// answer (device): approve, deny or fraud, and the typed number for approve.
	Answer string `json:"answer,omitempty"`
	Number int    `json:"number,omitempty"`
	// Ref is echoed in the result of an answer.
	Ref string `json:"ref,omitempty"`
	// result (server).
	OK    bool              `json:"ok,omitempty"`
	Error *apierror.Problem `json:"error,omitempty"`
	// RetryAfter is, in a result refused as rate-limited, the seconds to wait.
	RetryAfter int `json:"retry_after,omitempty"`
}

// Challenge is what a device is shown of a sign-in request. It never holds the number to
// match: the person reads that on the login page.
type Challenge struct {
	ID        uuid.UUID           `json:"id"`
	AccountID uuid.UUID           `json:"account_id"`
	Context   domain.LoginContext `json:"context"`
	ExpiresAt time.Time           `json:"expires_at"`
	// RecordedAt is when the log recorded the challenge (the store's time of the write that
	// made it durable), with the clock's full precision: with Context.IssuedAt (the decision)
	// a device sees how long the push took from either. Absent in a challenge sent from the
	// pending list when a device connects.
	RecordedAt time.Time `json:"recorded_at,omitzero"`
}

// Outcome is the final state of a challenge.
type Outcome struct {
	ChallengeID uuid.UUID `json:"challenge_id"`
	// Status is the wire spelling of a domain.Outcome (StatusOf): approved, denied,
	// fraud_reported, expired, cancelled, completed_totp or completed_backup_code. It stays
	// a string, so that a status a newer server adds reaches an older client as an unknown
	// outcome (Result is zero) instead of a message it cannot read.
	Status string `json:"status"`
	// DeviceID is the device that answered, if one did.
	DeviceID uuid.UUID `json:"device_id,omitzero"`
	At       time.Time `json:"at"`
}

// NewOutcome is the outcome message of a challenge that ended with o at at, answered by
// device (uuid.Nil when no device answered).
func NewOutcome(challenge uuid.UUID, o domain.Outcome, device uuid.UUID, at time.Time) Outcome {
	return Outcome{ChallengeID: challenge, Status: StatusOf(o), DeviceID: device, At: at}
}

// StatusOf is the wire spelling of a domain outcome: the one place the socket (and the HTTP
// API's login status, which shares it) turns a domain value into its string. It is the
// outcome's slug, which never changes: clients rely on it.
func StatusOf(o domain.Outcome) string { return o.String() }

// ParseStatus returns the domain outcome a wire status spells.
func ParseStatus(status string) (domain.Outcome, error) { return domain.ParseOutcome(status) }

// Result returns the domain outcome the message states, or the zero Outcome for a status
// this build does not know.
func (o Outcome) Result() domain.Outcome {
	out, _ := ParseStatus(o.Status)
	return out
}

// Approved reports whether the outcome lets the sign-in go on.
func (o Outcome) Approved() bool { return o.Result().Passed() }

// Close is why the server closed a device socket: a WebSocket close code and its reason.
// Codes 4000 to 4099 are permanent: the device must not connect again as it is. Every other
// close (the codes from 4100, the standard codes such as 1001 and 1011, a socket lost without
// a close frame) means: connect again after a backoff.
type Close struct {
	Code   websocket.StatusCode
	Reason string
}

// The server's closes of the device socket.
var (
	// CloseNoAccount: the device is linked to no account any more (unlinked, maybe while it
	// was offline). Permanent.
	CloseNoAccount = Close{4000, "no linked account left"}
	// CloseAuthFailed: the device is not known or its signature does not verify. Permanent.
	CloseAuthFailed = Close{4001, "authentication failed"}
	// CloseTooSlow: the device did not read its messages fast enough.
	CloseTooSlow = Close{4100, "too slow to read its messages"}
	// CloseAuthTimeout: the device did not authenticate in time.
	CloseAuthTimeout = Close{4101, "authentication timed out"}
	// CloseReplaced: newer sockets of the same device took its place (a few are kept per
	// device, the oldest goes).
	CloseReplaced = Close{4102, "replaced by newer sockets of this device"}
	// CloseTooManyFromAddress: too many sockets from the device's address.
	CloseTooManyFromAddress = Close{4103, "too many sockets from this address"}
	// CloseTooManyWaiting: too many sockets waiting to authenticate on this server.
	CloseTooManyWaiting = Close{4104, "too many sockets waiting to authenticate"}
	// CloseUnavailable: the server could not serve the socket now.
	CloseUnavailable = Close{websocket.StatusInternalError, "temporarily unavailable"}
	// CloseShuttingDown: the server is stopping; another node, or this one once restarted,
	// takes the device.
	CloseShuttingDown = Close{websocket.StatusGoingAway, "server shutting down"}
)

// Permanent reports whether the device must not connect again after this close.
func (c Close) Permanent() bool { return c.Code >= 4000 && c.Code <= 4099 }

// String is the close as logs show it.
func (c Close) String() string { return c.Reason }
