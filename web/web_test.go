package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/assent-dev/assent/web"
)

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	e := echo.New()
	web.Register(e)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestWebPagesCarryThePolicyAndNoInlineCode(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	if strings.Contains(web.ContentSecurityPolicy, "unsafe-") {
		t.Fatalf("the policy allows unsafe sources: %s", web.ContentSecurityPolicy)
	}
	scriptTag := regexp.MustCompile(`<script[^>]*>`)
	for _, p := range web.Pages {
		resp, body := get(t, srv.URL+p.Path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET %s: %d %s", p.Path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != web.ContentSecurityPolicy {
			t.Errorf("GET %s: policy %q", p.Path, got)
		}
		if regexp.MustCompile(`<script[^>]*>[^<]`).MatchString(body) {
			t.Errorf("%s has an inline script", p.Path)
		}
		for _, tag := range scriptTag.FindAllString(body, -1) {
			if !strings.Contains(tag, `src="/static/`) {
				t.Errorf("%s has a script that is not a file of ours: %s", p.Path, tag)
			}
		}
		for _, bad := range []string{"<style", " style=", "javascript:", "http://", "https://"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s contains %q (inline style, inline script or an outside resource)", p.Path, bad)
			}
		}
		if m := regexp.MustCompile(`\son[a-z]+=`).FindString(body); m != "" {
			t.Errorf("%s has an inline event handler: %s", p.Path, m)
		}
		if !strings.Contains(body, `<html lang="en">`) || !strings.Contains(body, `href="#main"`) {
			t.Errorf("%s lacks its language or the skip link", p.Path)
		}
	}
}

func TestWebFormFieldsHaveLabels(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	input := regexp.MustCompile(`<input\s[^>]*>`)
	id := regexp.MustCompile(`\sid="([^"]+)"`)
	for _, p := range web.Pages {
		_, body := get(t, srv.URL+p.Path)
		for _, tag := range input.FindAllString(body, -1) {
			if strings.Contains(tag, " hidden") {
				continue // not shown, not announced
			}
			m := id.FindStringSubmatch(tag)
			if m == nil || !strings.Contains(body, `<label for="`+m[1]+`"`) {
				t.Errorf("%s: the field %s has no label", p.Path, tag)
			}
		}
		ids := map[string]bool{}
		for _, m := range id.FindAllStringSubmatch(body, -1) {
			if ids[m[1]] {
				t.Errorf("%s: the id %q is used twice", p.Path, m[1])
			}
			ids[m[1]] = true
		}
	}
}

func TestWebAssetsAreEmbeddedAndServed(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ref := regexp.MustCompile(`(?:src|href)="(/static/[^"]+)"`)
	seen := map[string]bool{}
	for _, p := range web.Pages {
		_, body := get(t, srv.URL+p.Path)
		for _, m := range ref.FindAllStringSubmatch(body, -1) {
			seen[m[1]] = true
		}
	}
	if len(seen) < 3 {
		t.Fatalf("the pages reference only %v", seen)
	}
	for path := range seen {
		resp, body := get(t, srv.URL+path)
		if resp.StatusCode != 200 || body == "" {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
		want := map[bool]string{true: "text/javascript", false: "text/css"}[strings.HasSuffix(path, ".js")]
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), want) {
			t.Errorf("GET %s: content type %q, want %s", path, resp.Header.Get("Content-Type"), want)
		}
		if resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: no policy", path)
		}
	}
	if resp, _ := get(t, srv.URL+"/static/"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /static/ lists the assets: %d", resp.StatusCode)
	}
}

func TestWebEnrollLinkPageSendsPeopleToTheApp(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	resp, body := get(t, srv.URL+"/enroll?token=abc")
	if resp.StatusCode != 200 || !strings.Contains(body, "Open this link with the Assent app") || !strings.Contains(body, "assent device link") {
		t.Fatalf("GET /enroll: %d\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, "abc") {
		t.Fatal("the enroll page echoes the token")
	}
}
