package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFile is the lock file in a node's data dir. The process that runs the
// node holds an exclusive flock on it and writes its PID into it.
const LockFile = "node.lock"

// ErrDataDirInUse is matched (errors.Is) by the error LockDataDir returns
// when another process, or another open in this process, holds the lock.
var ErrDataDirInUse = errors.New("node: data dir in use")

// DataDirInUseError is LockDataDir's refusal.
type DataDirInUseError struct {
	Dir string
	// PID is the holder's, as written in the lock file; 0 if unknown.
	PID int
}

func (e *DataDirInUseError) Error() string {
	holder := "another process"
	if e.PID > 0 {
		holder = fmt.Sprintf("process %d", e.PID)
		if e.PID == os.Getpid() {
			holder += " (this process)"
		}
	}
	return fmt.Sprintf("data dir %s is in use by %s, which runs a node from it: stop that process first, or give another --data-dir", e.Dir, holder)
}

// Is makes errors.Is(err, ErrDataDirInUse) true.
func (e *DataDirInUseError) Is(target error) bool { return target == ErrDataDirInUse }

// DataDirLock is the exclusive lock on a data dir. Only one process runs a
// node from a data dir: two would share a node ID, steal each other's
// agent sessions and write the same Raft log.
type DataDirLock struct {
	f *os.File
}

// LockDataDir creates dir if needed and takes its lock without waiting. It
// must be called before anything of the node starts (agent, gossip, Raft).
// The lock is flock(2) on dir/node.lock: it is released when the process
// exits, however it exits, and it is per open file, so a second
// LockDataDir on the same dir in the same process fails too.
func LockDataDir(dir string) (*DataDirLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("node: creating data dir: %w", err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("node: opening the data dir lock: %w", err)
	}
	if err := flock(f); err != nil {
		f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("node: locking data dir %s: %w", dir, err)
		}
		e := &DataDirInUseError{Dir: dir}
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
				e.PID = pid
			}
		}
		return nil, e
	}
	if err := writePID(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("node: writing the data dir lock: %w", err)
	}
	return &DataDirLock{f: f}, nil
}

// writePID records the holder's PID, for the error a refused process
// gives.
func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return err
	}
	return f.Sync()
}

// Release drops the lock. It may be called more than once, and on nil.
func (l *DataDirLock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the only descriptor releases the flock
	l.f = nil
	return err
}
