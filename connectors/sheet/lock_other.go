//go:build !unix

package sheet

import "context"

// lockFile is a no-op where flock is not available: the process's mutex
// still serialises its own writers.
func lockFile(ctx context.Context, path string) (func(), error) {
	return func() {}, ctx.Err()
}
