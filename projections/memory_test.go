package projections_test

import (
	"testing"

	"github.com/assent-dev/assent/projections"
	"github.com/assent-dev/assent/projections/storetest"
)

func TestMemoryStoreContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(*testing.T) projections.Store { return projections.NewMemoryStore() })
}
