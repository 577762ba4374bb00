package raft

import (
	"bytes"
	"sync/atomic"
	"testing"

	hraft "github.com/hashicorp/raft"

	"github.com/shoal-dev/shoal/encryption"
)

// countingLogStore counts the reads that reach the log store on disk.
type countingLogStore struct {
	hraft.LogStore
	gets atomic.Int64
}

func (s *countingLogStore) GetLog(index uint64, l *hraft.Log) error {
	s.gets.Add(1)
	return s.LogStore.GetLog(index, l)
}

// TestLogCacheHoldsPlaintext checks that the entries the leader replicates
// are read from memory, not from disk, and that the cache sits above the
// encryption: it hands out plaintext, and what reaches the disk is sealed.
func TestLogCacheHoldsPlaintext(t *testing.T) {
	disk := &countingLogStore{LogStore: hraft.NewInmemStore()}
	enc, err := newEncryptedLogStore(disk, bytes.Repeat([]byte{7}, encryption.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	logs := cachedLogStore(enc)
	data := []byte(`{"ops":[{"type":"update_service"}]}`)
	if err := logs.StoreLogs([]*hraft.Log{{Index: 1, Term: 1, Type: hraft.LogCommand, Data: data}}); err != nil {
		t.Fatal(err)
	}
	var got hraft.Log
	if err := logs.GetLog(1, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Data, data) {
		t.Fatalf("cached entry %q, want the plaintext %q", got.Data, data)
	}
	if n := disk.gets.Load(); n != 0 {
		t.Errorf("%d reads reached the disk store, want 0", n)
	}
	var raw hraft.Log
	if err := disk.LogStore.GetLog(1, &raw); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw.Data, data) {
		t.Errorf("the disk store holds the plaintext")
	}
}
