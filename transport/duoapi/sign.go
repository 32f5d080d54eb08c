package duoapi

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Signature errors. Check them with errors.Is.
var (
	errNoCredentials = errors.New("missing request credentials")
	errBadSignature  = errors.New("invalid signature in request credentials")
	errNoDate        = errors.New("missing or invalid request date")
	errStaleDate     = errors.New("request date outside the allowed window")
)

// CanonParams returns the canonical parameter string of Duo's request signatures: every
// key and value %-encoded (spaces as %20, never +), sorted by key and then by value, joined
// with & and =.
func CanonParams(params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		vals := slices.Clone(params[k])
		slices.Sort(vals)
		for _, v := range vals {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(escape(k))
			b.WriteByte('=')
			b.WriteString(escape(v))
		}
	}
	return b.String()
}

// escape is url.QueryEscape with %20 for a space, as Duo's clients encode.
func escape(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

// CanonicalV2 returns the v2 canonical request: date, upper-case method, lower-case host,
// path and the canonical parameters, one per line.
func CanonicalV2(date, method, host, path string, params url.Values) string {
	return strings.Join([]string{date, strings.ToUpper(method), strings.ToLower(host), path, CanonParams(params)}, "\n")
}

// CanonicalV5 returns the v5 canonical request: the v2 lines followed by the hex SHA-512 of
// the body and the hex SHA-512 of the (empty) additional headers.
func CanonicalV5(date, method, host, path string, params url.Values, body []byte) string {
	return CanonicalV2(date, method, host, path, params) + "\n" + sha512Hex(body) + "\n" + sha512Hex(nil)
}

func sha512Hex(b []byte) string {
	sum := sha512.Sum512(b)
	return hex.EncodeToString(sum[:])
}

// Sign returns the hex HMAC of canonical under secret, with SHA-1 or SHA-512.
func Sign(h func() hash.Hash, secret []byte, canonical string) string {
	mac := hmac.New(h, secret)
	mac.Write([]byte(canonical))
	return hex.EncodeToString(mac.Sum(nil))
}

// Authorization returns the Authorization header of a signed request: HTTP Basic with the
// integration key and the hex signature.
func Authorization(ikey, sig string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(ikey+":"+sig))
}

// credentials splits an Authorization header into the integration key and the signature.
func credentials(header string) (ikey, sig string, err error) {
	const prefix = "basic "
	if len(header) <= len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return "", "", errNoCredentials
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(header[len(prefix):]))
	if err != nil {
		return "", "", errNoCredentials
	}
	ikey, sig, ok := strings.Cut(string(raw), ":")
	if !ok || ikey == "" || sig == "" {
		return "", "", errNoCredentials
	}
	return ikey, sig, nil
}

// dateLayouts are the forms of the Date and X-Duo-Date headers Duo's clients send: RFC 2822
// with a numeric offset (+0000, -0000 or a local one); RFC 1123 with a zone name is accepted
// as well, as HTTP dates are written so.
var dateLayouts = []string{time.RFC1123Z, "Mon, 2 Jan 2006 15:04:05 -0700", time.RFC1123}

// parseDate parses a request date.
func parseDate(s string) (time.Time, error) {
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errNoDate
}

// signedRequest is what a request's signature covers, as the server received it.
type signedRequest struct {
	method string
	// hosts are the host names the client may have signed: the Host header as sent (with
	// its port, as the Go client signs), without its port (as the C and Python clients
	// sign), and the configured public host.
	hosts  []string
	path   string
	params url.Values // the query of a GET, the decoded form of a POST; nil for a JSON body
	body   []byte     // the raw JSON body of a v5 request
	json   bool
}

// form is one canonical string a valid signature may be over, and whether it is the v5 form.
type form struct {
	canonical string
	v5        bool
}

// forms returns the canonical strings a valid signature may be over: for each host, the v2
// and the v5 form of a form-encoded or query request, or the v5 form of a JSON body.
func (r signedRequest) forms(date string) []form {
	var out []form
	for _, h := range r.hosts {
		if r.json {
			out = append(out, form{CanonicalV5(date, r.method, h, r.path, url.Values{}, r.body), true})
			continue
		}
		out = append(out,
			form{CanonicalV2(date, r.method, h, r.path, r.params), false},
			form{CanonicalV5(date, r.method, h, r.path, r.params, nil), true})
	}
	return out
}

// verify checks sig against every canonical form under secret, in constant time for each.
// A 40-character signature is HMAC-SHA1, which signs the v2 form only; a 128-character one
// is HMAC-SHA512, which signs either form.
func (r signedRequest) verify(secret []byte, date, sig string) error {
	got, err := hex.DecodeString(sig)
	if err != nil {
		return errBadSignature
	}
	var h func() hash.Hash
	switch len(got) {
	case sha1.Size:
		h = sha1.New
	case sha512.Size:
		h = sha512.New
	default:
		return errBadSignature
	}
	ok := false
	for _, f := range r.forms(date) {
		if f.v5 && len(got) == sha1.Size {
			continue
		}
		mac := hmac.New(h, secret)
		mac.Write([]byte(f.canonical))
		if hmac.Equal(mac.Sum(nil), got) {
			ok = true
		}
	}
	if !ok {
		return errBadSignature
	}
	return nil
}

// hostsOf returns the host names a request to host (the Host header) may have been signed
// with, lower-case and without repeats; public is the configured public host, if any.
func hostsOf(host, public string) []string {
	var out []string
	add := func(h string) {
		h = strings.ToLower(h)
		if h != "" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	add(host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		add(h)
	}
	add(public)
	if h, _, err := net.SplitHostPort(public); err == nil {
		add(h)
	}
	return out
}
