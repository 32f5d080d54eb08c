package projections_test

import (
	"slices"
	"testing"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/projections"
)

// TestHandledTypesAreRegistered checks that every event type a projection folds is in the
// domain's registry, so that a renamed or removed type cannot be silently ignored.
func TestHandledTypesAreRegistered(t *testing.T) {
	t.Parallel()
	registered := domain.EventTypes()
	for _, p := range projections.NewSet().All() {
		if len(p.Handles()) == 0 {
			t.Errorf("projection %s handles no event type", p.Name())
		}
		for _, typ := range p.Handles() {
			if !slices.Contains(registered, typ) {
				t.Errorf("projection %s handles %q, which domain does not register", p.Name(), typ)
			}
		}
	}
}
