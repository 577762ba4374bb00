//go:build !unix

package testimage

// lockBuilds does nothing where flock is missing: concurrent processes may
// then build the same image twice, which is harmless.
func lockBuilds() (func(), error) { return func() {}, nil }
