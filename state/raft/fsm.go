package raft

import (
	"io"

	hraft "github.com/hashicorp/raft"

	"github.com/shoal-dev/shoal/state"
)

// fsm applies committed log entries to the store. It implements
// hraft.BatchingFSM so that a batch of entries becomes one store transaction
// and one change-feed batch.
type fsm struct {
	store *state.Store
}

var _ hraft.BatchingFSM = (*fsm)(nil)

func (f *fsm) Apply(l *hraft.Log) any { return f.ApplyBatch([]*hraft.Log{l})[0] }

// ApplyBatch receives command and configuration entries. Configuration
// entries only move the store index, so the store index is the index of the
// last entry the FSM has seen, identical on every manager.
func (f *fsm) ApplyBatch(logs []*hraft.Log) []any {
	entries := make([]state.Entry, len(logs))
	resp := make([]any, len(logs))
	for i, l := range logs {
		entries[i].Index = l.Index
		if l.Type != hraft.LogCommand {
			continue
		}
		cmd, err := state.DecodeCommand(l.Data)
		if err != nil {
			// A command that does not decode changes nothing, on every
			// manager alike.
			resp[i] = err
			continue
		}
		entries[i].Cmd = cmd
	}
	results := f.store.Apply(entries...)
	for i := range logs {
		if resp[i] == nil {
			resp[i] = results[i]
		}
	}
	return resp
}

func (f *fsm) Snapshot() (hraft.FSMSnapshot, error) {
	return &fsmSnapshot{snap: f.store.Snapshot()}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	return f.store.Restore(rc)
}

type fsmSnapshot struct {
	snap *state.Snapshot
}

func (s *fsmSnapshot) Persist(sink hraft.SnapshotSink) error {
	if _, err := s.snap.WriteTo(sink); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}
