//go:build !unix

package node

import "os"

// flock does nothing where flock(2) is missing: the data dir is not
// protected against a second process there.
func flock(*os.File) error { return nil }
