// Package all registers every connector kind: import it for its side effects
// where departments are opened (the hub's main), as database/sql drivers are.
// all_test.go fails when a kind package under connectors/ is missing here.
package all

import (
	// Connector kinds, one per package, registering themselves in init.
	_ "github.com/gridhub/gridhub/connectors/rest"
	_ "github.com/gridhub/gridhub/connectors/sheet"
	_ "github.com/gridhub/gridhub/connectors/sql"
)
