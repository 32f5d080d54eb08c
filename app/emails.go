package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

// emailKeyPurpose is the purpose of the key derived from the keyring that names email streams.
const emailKeyPurpose = "email"

// emailStreams returns the names under which the claim of addr may be: first under the
// keyring's primary key, where new claims go; then under each older key of the keyring (a
// claim made before a rotation); last the unkeyed name of versions before keyed names.
func (s *Service) emailStreams(addr domain.Email) []string {
	keys := s.keyring.DeriveKeys(emailKeyPurpose)
	out := make([]string, 0, len(keys)+1)
	for _, k := range keys {
		out = append(out, domain.KeyedEmailStream(addr, k.Key))
	}
	return append(out, domain.EmailStream(addr))
}

// emailHolder returns the account that holds addr and is not erased, or uuid.Nil: the first
// claim, in the order of emailStreams, whose account exists.
func (s *Service) emailHolder(ctx context.Context, addr domain.Email) (uuid.UUID, error) {
	for _, stream := range s.emailStreams(addr) {
		events, _, err := s.load(ctx, stream)
		if err != nil {
			return uuid.Nil, err
		}
		claim, err := domain.LoadEmailClaim(events)
		if err != nil {
			return uuid.Nil, err
		}
		if claim.AccountID() == uuid.Nil {
			continue
		}
		a, _, err := s.loadAccountStream(ctx, claim.AccountID())
		if err != nil {
			return uuid.Nil, err
		}
		if a.Exists() {
			return claim.AccountID(), nil
		}
	}
	return uuid.Nil, nil
}
