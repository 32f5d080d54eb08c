package httpapi

import (
	"github.com/assent-dev/assent/secrets"
	"github.com/assent-dev/assent/transport/apierror"
)

// A secret sealed with a key that has left --secret-keys cannot be opened: the key was retired
// while something it sealed was still in use. The client cannot fix that, the operator can, by
// listing the key again.
func init() {
	apierror.Add(secrets.ErrUnknownKey, 503, "secret_key_missing",
		"A secret of this account was sealed with a key the server no longer holds. The operator must list that key in --secret-keys again.")
}
