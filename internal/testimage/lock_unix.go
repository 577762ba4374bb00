//go:build unix

package testimage

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockBuilds serialises image builds across test processes (go test runs
// packages in parallel), so that a second process finds the first one's
// image by its hash instead of building it again. It returns the unlock.
func lockBuilds() (func(), error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "shoal-testimage.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("testimage: build lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("testimage: build lock: %w", err)
	}
	// Closing the file releases the lock.
	return func() { f.Close() }, nil
}
