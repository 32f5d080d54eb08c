package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

// emailKeyPurpose is the purpose of the key derived from the keyring that names email streams.
const emailKeyPurpose = "email"

// emailStreams returns the names under which the claim of addr may be: first under the
// deployment's email index key (personal.Keys.IndexKey), where new claims go, which survives
// keyring rotations; without a key store (EventStoreDB), under the keyring's keys, the
// primary's first; last the unkeyed name of versions before keyed names.
func (s *Service) emailStreams(ctx context.Context, addr domain.Email) ([]string, error) {
	key, err := s.erasure.IndexKey(ctx, emailKeyPurpose)
	if err != nil {
		return nil, err
	}
	var out []string
	if key != nil {
		out = append(out, domain.KeyedEmailStream(addr, key))
	} else {
		for _, k := range s.keyring.DeriveKeys(emailKeyPurpose) {
			out = append(out, domain.KeyedEmailStream(addr, k.Key))
		}
	}
	return append(out, domain.EmailStream(addr)), nil
}

// emailHolder returns the account that holds addr and is not erased, or uuid.Nil: the first
// claim, in the order of emailStreams, whose account exists.
func (s *Service) emailHolder(ctx context.Context, addr domain.Email) (uuid.UUID, error) {
	names, err := s.emailStreams(ctx, addr)
	if err != nil {
		return uuid.Nil, err
	}
	for _, stream := range names {
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
