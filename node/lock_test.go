package node_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/node"
)

// TestDataDirLockIsExclusive: a second lock of a data dir fails at once,
// naming the holder's PID, even in the same process (flock is per open
// file); a refused attempt leaves the lock held; after Release the dir can
// be locked again.
func TestDataDirLockIsExclusive(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new") // created by the lock
	first, err := node.LockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_, err = node.LockDataDir(dir)
		if !errors.Is(err, node.ErrDataDirInUse) {
			t.Fatalf("second lock: want ErrDataDirInUse, got %v", err)
		}
		if want := fmt.Sprintf("in use by process %d", os.Getpid()); !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not name the holder", err)
		}
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	if err := first.Release(); err != nil {
		t.Fatalf("a second release: %v", err)
	}
	again, err := node.LockDataDir(dir)
	if err != nil {
		t.Fatalf("locking after release: %v", err)
	}
	again.Release()
}
