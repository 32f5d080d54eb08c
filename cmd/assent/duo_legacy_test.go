package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/domain"
)

// duoUnix sends legacy requests exactly as duo_unix 1.11.3 builds them (lib/duo.c, lib/https.c,
// lib/urlenc.c): each parameter "%-encoded name=%-encoded value" (only A-Z a-z 0-9 _ ~ . -
// left as they are, %XX upper case), the pairs sorted as strings (qsort with strcmp), joined
// with &; the canonical "METHOD\nhost\nuri\nqs" with the host as configured (no port), signed
// with HMAC-SHA1, hex, in HTTP Basic; a POST's body is the same qs, a GET's query too. No date.
type duoUnix struct {
	t          *testing.T
	d          *duoNode
	ikey, skey string
}

func urlenc(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '~' || c == '.' || c == '-' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func (u *duoUnix) call(method, uri string, params [][2]string) bson.M {
	u.t.Helper()
	var argv []string
	for _, p := range params {
		argv = append(argv, urlenc(p[0])+"="+urlenc(p[1]))
	}
	sort.Strings(argv)
	qs := strings.Join(argv, "&")
	host := strings.Split(strings.TrimPrefix(u.d.tls.URL, "https://"), ":")[0]
	mac := hmac.New(sha1.New, []byte(u.skey))
	mac.Write([]byte(method + "\n" + host + "\n" + uri + "\n" + qs))
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%s:%x", u.ikey, mac.Sum(nil))))
	var req *http.Request
	if method == "GET" {
		req, _ = http.NewRequest(method, u.d.tls.URL+uri+"?"+qs, nil)
	} else {
		req, _ = http.NewRequest(method, u.d.tls.URL+uri, strings.NewReader(qs))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("User-Agent", "login_duo (x86_64-pc-linux-gnu) libduo/1.11.3")
	resp, err := u.d.tls.Client().Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var doc bson.M
	if err := bson.Unmarshal(body, &doc); err != nil {
		u.t.Fatalf("%s %s: not BSON (%d): %q", method, uri, resp.StatusCode, body)
	}
	if doc["stat"] == "FAIL" && resp.StatusCode != int(doc["code"].(int32))/100 {
		u.t.Fatalf("FAIL %v with HTTP %d", doc["code"], resp.StatusCode)
	}
	return doc
}

func response(t *testing.T, doc bson.M) bson.M {
	t.Helper()
	if doc["stat"] != "OK" {
		t.Fatalf("not OK: %v", doc)
	}
	return asM(doc["response"])
}

// asM reads an embedded document, which the driver decodes as bson.D.
func asM(v any) bson.M {
	switch d := v.(type) {
	case bson.M:
		return d
	case bson.D:
		m := bson.M{}
		for _, e := range d {
			m[e.Key] = e.Value
		}
		return m
	}
	return nil
}

func TestDuoLegacyV1AsDuoUnixSpeaksIt(t *testing.T) {
	t.Parallel()
	d := startDuoNodeAt(t, t.TempDir(), startOptions{duoStatusHold: 300 * time.Millisecond})
	ctx := context.Background()
	k, err := d.srv.App.CreateIntegration(ctx, "SSH", app.IntegrationOptions{LegacyV1: true})
	if err != nil {
		t.Fatal(err)
	}
	u := &duoUnix{t: t, d: d, ikey: k.Key.String(), skey: k.Secret}
	pre := func() bson.M {
		return response(t, u.call("POST", "/rest/v1/preauth.bson", [][2]string{{"user", "ada"}, {"ipaddr", "203.0.113.5"}, {"hostname", "bastion.example.com"}, {"failmode", "closed"}}))
	}

	// A new user: enroll, with the link to scan in the status duo_unix prints.
	r := pre()
	link := regexp.MustCompile(`https://\S+`).FindString(fmt.Sprint(r["status"]))
	if r["result"] != "enroll" || link == "" {
		t.Fatalf("preauth of a new user = %v", r)
	}
	_, token, err := client.ParseEnrollmentLink(link)
	if err != nil {
		t.Fatal(err)
	}
	p := newPhone(t, "phone")
	linked, err := d.client().Enroll(ctxT(t), p.dev, token)
	if err != nil {
		t.Fatal(err)
	}
	p.connect(t, d.node)

	r = pre()
	factors := asM(r["factors"])
	if r["result"] != "auth" || factors["default"] != "push1" || factors["1"] != "push1" || !strings.Contains(fmt.Sprint(r["prompt"]), "1. Push to phone") {
		t.Fatalf("preauth of an enrolled user = %v", r)
	}

	auth := func(auto string) string {
		t.Helper()
		r := response(t, u.call("POST", "/rest/v1/auth.bson", [][2]string{
			{"user", "ada"}, {"factor", "auto"}, {"auto", auto}, {"async", "1"}, {"ipaddr", "203.0.113.5"},
			{"hostname", "bastion.example.com"}, {"pushinfo", "Server+IP=10.0.0.1&Command=sudo%20reboot"},
		}))
		txid, _ := r["txid"].(string)
		if txid == "" {
			t.Fatalf("auth.bson answered %v", r)
		}
		return txid
	}
	status := func(txid string) bson.M {
		return response(t, u.call("GET", "/rest/v1/status.bson", [][2]string{{"txid", txid}}))
	}

	t.Log("push1, polled back to back")
	txid := auth("push1")
	req := recv(t, p.requests, "push")
	want := []domain.PushInfoItem{{Key: "Host", Value: "bastion.example.com"}, {Key: "Server IP", Value: "10.0.0.1"}, {Key: "Command", Value: "sudo reboot"}}
	if !equalItems(req.Context.PushInfo, want) || req.Context.IP != "203.0.113.5" || !req.Context.NoNumber {
		t.Fatalf("the push shows %+v", req.Context)
	}
	if st := status(txid); st["result"] != nil || st["status"] == "" {
		t.Fatalf("status.bson while pending = %v", st)
	}
	polled := make(chan bson.M, 1)
	go func() { polled <- status(txid) }() // held until the answer
	if err := p.sock.Answer(ctxT(t), req, domain.AnswerApprove, 0); err != nil {
		t.Fatal(err)
	}
	if st := recv(t, polled, "held status.bson"); st["result"] != "allow" {
		t.Fatalf("status.bson after approval = %v", st)
	}

	t.Log("a passcode in auto, once")
	code, err := client.TOTPCode(linked.TOTPSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st := status(auth(code)); st["result"] != "allow" {
		t.Fatalf("a device code = %v", st)
	}
	if st := status(auth(code)); st["result"] != "deny" {
		t.Fatalf("the same code again = %v", st)
	}

	t.Log("refusals")
	bad := &duoUnix{t: t, d: d, ikey: k.Key.String(), skey: strings.Repeat("x", 40)}
	if r := bad.call("POST", "/rest/v1/preauth.bson", [][2]string{{"user", "ada"}}); r["stat"] != "FAIL" || r["code"] != int32(40101) {
		t.Fatalf("a wrong signature = %v", r)
	}
	v2only, err := d.srv.App.CreateIntegration(ctx, "Portal")
	if err != nil {
		t.Fatal(err)
	}
	off := &duoUnix{t: t, d: d, ikey: v2only.Key.String(), skey: v2only.Secret}
	if r := off.call("POST", "/rest/v1/preauth.bson", [][2]string{{"user", "ada"}}); r["stat"] != "FAIL" || r["code"] != int32(40301) {
		t.Fatalf("an integration without --legacy-v1 = %v", r)
	}
}

func equalItems(a, b []domain.PushInfoItem) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
