package raft

import (
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	hraft "github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// TestVerifyStateLogGaps checks verifyState against the shapes a log
// takes on disk. A follower that installs a leader's snapshot keeps its
// trailing entries below the snapshot's index and appends after it, so
// entries the snapshot covers may be missing (robustness seed
// 421339016140 refused to restart such a node as damaged); an entry
// missing above the newest snapshot is damage.
func TestVerifyStateLogGaps(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ranges  [][2]uint64 // log entries present, inclusive
		snap    uint64      // newest snapshot's index; 0 for none
		wantErr string      // part of the error; "" for none
	}{
		{"contiguous, no snapshot", [][2]uint64{{1, 30}}, 0, ""},
		{"contiguous over the snapshot", [][2]uint64{{10, 30}}, 20, ""},
		{"installed snapshot: gap below it", [][2]uint64{{10, 20}, {41, 45}}, 40, ""},
		{"installed snapshot, nothing appended since", [][2]uint64{{10, 20}}, 40, ""},
		{"gap above the snapshot", [][2]uint64{{10, 20}, {30, 45}}, 25, "log entry 26 does not read back"},
		{"gap, no snapshot", [][2]uint64{{1, 20}, {30, 45}}, 0, "log entry 21 does not read back"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			logs, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, logFile)})
			if err != nil {
				t.Fatal(err)
			}
			defer logs.Close()
			for _, r := range tc.ranges {
				for i := r[0]; i <= r[1]; i++ {
					if err := logs.StoreLog(&hraft.Log{Index: i, Term: 1, Type: hraft.LogCommand, Data: []byte("x")}); err != nil {
						t.Fatal(err)
					}
				}
			}
			snaps, err := hraft.NewFileSnapshotStoreWithLogger(dir, 2, newHCLogger(slog.New(slog.NewTextHandler(io.Discard, nil)), "snapshots"))
			if err != nil {
				t.Fatal(err)
			}
			if tc.snap > 0 {
				sink, err := snaps.Create(hraft.SnapshotVersionMax, tc.snap, 1, hraft.Configuration{}, 1, nil)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := sink.Write([]byte("state")); err != nil {
					t.Fatal(err)
				}
				if err := sink.Close(); err != nil {
					t.Fatal(err)
				}
			}
			err = verifyState(dir, logs, snaps, appliedMarker{})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("verifyState: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("verifyState = %v, want an error with %q", err, tc.wantErr)
			case tc.wantErr != "":
				var de *DamagedError
				if !errors.As(err, &de) {
					t.Fatalf("verifyState = %T %v, want a *DamagedError", err, err)
				}
			}
		})
	}
}
