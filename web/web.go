// Package web serves Assent's pages for people: register, sign in (with the live wait for the
// device's answer), the signed-in home, the security page, and the landing page of enrollment
// links. Pages are html/template documents with their scripts and styles in embedded files;
// every call they make goes to the JSON API under /v1.
package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// ContentSecurityPolicy is sent with every page and asset: scripts, styles, fetches and event
// streams from this origin only, images from this origin or data: URLs (the QR codes), no
// inline script or style, no framing.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// page is one HTML page: its path, template file, title, script and layout: "card" centres
// one card (sign-in, registration, the signed-in home), "wide" lays sections out beside a
// list of them (the security page).
type page struct {
	Path   string
	File   string
	Title  string
	Script string
	Layout string
}

// Pages are the pages Register serves, outside /v1.
var Pages = []page{
	{"/", "home.html", "Assent", "home.js", "card"},
	{"/register", "register.html", "Create an account", "register.js", "card"},
	{"/signin", "signin.html", "Sign in", "signin.js", "card"},
	{"/security", "security.html", "Security", "security.js", "wide"},
	{"/enroll", "enroll.html", "Link a device", "", "card"},
}

// Register adds the pages and their assets (under /static/) to e.
func Register(e *echo.Echo) {
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(fmt.Sprintf("web: embedded assets: %v", err))
	}
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	e.GET("/static/*", func(c echo.Context) error {
		if strings.HasSuffix(c.Request().URL.Path, "/") {
			return echo.ErrNotFound // no listing of the assets
		}
		c.Response().Header().Set("Content-Security-Policy", ContentSecurityPolicy)
		files.ServeHTTP(c.Response(), c.Request())
		return nil
	})
	for _, p := range Pages {
		body := mustRender(p)
		e.GET(p.Path, func(c echo.Context) error {
			h := c.Response().Header()
			h.Set("Content-Security-Policy", ContentSecurityPolicy)
			return c.HTMLBlob(http.StatusOK, body)
		})
	}
}

// mustRender renders a page once: the pages hold no per-request data (their scripts ask the
// API), so they are rendered at start and a broken template fails the start, not a request.
func mustRender(p page) []byte {
	t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/"+p.File)
	if err != nil {
		panic(fmt.Sprintf("web: template %s: %v", p.File, err))
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", p); err != nil {
		panic(fmt.Sprintf("web: render %s: %v", p.File, err))
	}
	return b.Bytes()
}
