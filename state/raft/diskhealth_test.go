package raft

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestDiskHealthProbe: a failed log write keeps the node from standing
// for election until a write succeeds or a probe of its disk does.
func TestDiskHealthProbe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "raft")
	h := newDiskHealth(dir)
	h.probeEvery = 0
	if !h.canLead() {
		t.Fatal("a fresh node may not lead")
	}
	h.stored(errors.New("no space left on device"))
	if h.canLead() {
		t.Fatal("a node whose log write failed, its disk probe failing too (no dir), may lead")
	}
	h.stored(nil)
	if !h.canLead() {
		t.Fatal("a node whose last log write succeeded may not lead")
	}
	h.stored(errors.New("no space left on device"))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if !h.canLead() {
		t.Fatal("a node whose disk probe succeeds may not lead")
	}
	if _, err := os.Stat(filepath.Join(dir, "disk-probe")); !os.IsNotExist(err) {
		t.Fatalf("the probe file was left behind: %v", err)
	}
}
