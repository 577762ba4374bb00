package raft

import (
	"fmt"
	"io"

	hraft "github.com/hashicorp/raft"

	"github.com/shoal-dev/shoal/encryption"
)

// encryptedLogStore seals the data of every log entry with the manager's
// data key before it reaches disk, and opens it on the way back. Entries
// travel to other managers decrypted, over mutual TLS; each manager
// encrypts with its own key.
type encryptedLogStore struct {
	hraft.LogStore
	c *encryption.Cipher
}

var _ hraft.LogStore = (*encryptedLogStore)(nil)

func newEncryptedLogStore(s hraft.LogStore, dek []byte) (*encryptedLogStore, error) {
	c, err := encryption.NewCipher(dek)
	if err != nil {
		return nil, fmt.Errorf("raft: log encryption: %w", err)
	}
	return &encryptedLogStore{LogStore: s, c: c}, nil
}

func (s *encryptedLogStore) seal(l *hraft.Log) *hraft.Log {
	cp := *l
	if len(l.Data) > 0 {
		cp.Data = s.c.Seal(l.Data)
	}
	return &cp
}

func (s *encryptedLogStore) GetLog(index uint64, l *hraft.Log) error {
	if err := s.LogStore.GetLog(index, l); err != nil {
		return err
	}
	if len(l.Data) == 0 {
		return nil
	}
	pt, err := s.c.Open(l.Data)
	if err != nil {
		return fmt.Errorf("raft: decrypting log entry %d: %w", index, err)
	}
	l.Data = pt
	return nil
}

func (s *encryptedLogStore) StoreLog(l *hraft.Log) error { return s.LogStore.StoreLog(s.seal(l)) }

func (s *encryptedLogStore) StoreLogs(logs []*hraft.Log) error {
	sealed := make([]*hraft.Log, len(logs))
	for i, l := range logs {
		sealed[i] = s.seal(l)
	}
	return s.LogStore.StoreLogs(sealed)
}

// encryptedSnapshotStore encrypts snapshots as authenticated chunked
// streams.
type encryptedSnapshotStore struct {
	hraft.SnapshotStore
	dek []byte
}

var _ hraft.SnapshotStore = (*encryptedSnapshotStore)(nil)

func newEncryptedSnapshotStore(s hraft.SnapshotStore, dek []byte) *encryptedSnapshotStore {
	return &encryptedSnapshotStore{SnapshotStore: s, dek: dek}
}

func (s *encryptedSnapshotStore) Create(version hraft.SnapshotVersion, index, term uint64, configuration hraft.Configuration,
	configurationIndex uint64, trans hraft.Transport) (hraft.SnapshotSink, error) {
	sink, err := s.SnapshotStore.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		return nil, err
	}
	w, err := encryption.NewWriter(sink, s.dek)
	if err != nil {
		_ = sink.Cancel()
		return nil, err
	}
	return &encryptedSink{SnapshotSink: sink, w: w}, nil
}

// Open returns the decrypted snapshot. Raft sends meta.Size bytes to a
// follower installing it, so the size is the plaintext's: it is counted
// with a first decrypting pass, which also authenticates the whole file
// before Raft uses it.
func (s *encryptedSnapshotStore) Open(id string) (*hraft.SnapshotMeta, io.ReadCloser, error) {
	meta, rc, err := s.SnapshotStore.Open(id)
	if err != nil {
		return nil, nil, err
	}
	r, err := encryption.NewReader(rc, s.dek)
	if err != nil {
		rc.Close()
		return nil, nil, fmt.Errorf("raft: snapshot %s: %w", id, err)
	}
	n, err := io.Copy(io.Discard, r)
	rc.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("raft: snapshot %s: %w", id, err)
	}
	meta, rc, err = s.SnapshotStore.Open(id)
	if err != nil {
		return nil, nil, err
	}
	r, err = encryption.NewReader(rc, s.dek)
	if err != nil {
		rc.Close()
		return nil, nil, err
	}
	m := *meta
	m.Size = n
	return &m, readCloser{Reader: r, Closer: rc}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

type encryptedSink struct {
	hraft.SnapshotSink
	w *encryption.Writer
}

func (s *encryptedSink) Write(p []byte) (int, error) { return s.w.Write(p) }

func (s *encryptedSink) Close() error {
	if err := s.w.Close(); err != nil {
		_ = s.SnapshotSink.Cancel()
		return err
	}
	return s.SnapshotSink.Close()
}
