package main

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/secrets"
	"github.com/assent-dev/assent/transport/oidc"
	"github.com/assent-dev/assent/websession"
)

// sessionTTL is the lifetime of a signed-in session.
const sessionTTL = 12 * time.Hour

// mountOIDC serves the OpenID Connect provider when a public URL is configured: the issuer
// must be the URL relying parties see, never a request's Host.
func mountOIDC(ctx context.Context, e *echo.Echo, cfg config.Config, svc *app.Service, sessions *websession.Sessions, keyring *secrets.Keyring, log *slog.Logger) error {
	if cfg.PublicURL == "" {
		log.Info("OpenID Connect provider off: it needs --public-url")
		return nil
	}
	_, err := oidc.Register(ctx, e, oidc.Config{
		App: svc, Sessions: sessions, SessionTTL: sessionTTL, Issuer: strings.TrimSuffix(cfg.PublicURL, "/"),
		Keys: keyring.DeriveKeys("oidc"), Log: log,
	})
	return err
}
