package state

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	memdb "github.com/hashicorp/go-memdb"
)

// snapshotFormat is the version of the snapshot encoding.
const snapshotFormat = 1

type snapshotHeader struct {
	Format int    `json:"format"`
	Index  uint64 `json:"index"`
}

// snapshotRecord is one object in a snapshot stream. Exactly one field is
// set.
type snapshotRecord struct {
	Cluster *Cluster `json:"c,omitempty"`
	Node    *Node    `json:"n,omitempty"`
	Service *Service `json:"s,omitempty"`
	Task    *Task    `json:"t,omitempty"`
}

// Snapshot is a point-in-time copy of the store that can be written out
// while writes go on.
type Snapshot struct {
	txn   *memdb.Txn
	index uint64
}

// Snapshot returns a consistent copy of the store's current state. It is
// cheap: go-memdb's trees are immutable.
func (s *Store) Snapshot() *Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx := newReadTx(s.db.Load().Txn(false))
	return &Snapshot{txn: tx.txn, index: tx.index}
}

// Index is the store index the snapshot was taken at.
func (sn *Snapshot) Index() uint64 { return sn.index }

// WriteTo writes the snapshot as a header line followed by one JSON object
// per line.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<20)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(snapshotHeader{Format: snapshotFormat, Index: sn.index}); err != nil {
		return cw.n, err
	}
	for _, kind := range []Kind{KindCluster, KindNode, KindService, KindTask} {
		it, err := sn.txn.Get(string(kind), indexID)
		if err != nil {
			return cw.n, err
		}
		for o := it.Next(); o != nil; o = it.Next() {
			var rec snapshotRecord
			switch v := o.(type) {
			case *Cluster:
				rec.Cluster = v
			case *Node:
				rec.Node = v
			case *Service:
				rec.Service = v
			case *Task:
				rec.Task = v
			}
			if err := enc.Encode(&rec); err != nil {
				return cw.n, err
			}
		}
	}
	err := bw.Flush()
	return cw.n, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Restore replaces the store's contents with a snapshot written by
// Snapshot.WriteTo. Every watcher is told to resync. On error the store is
// unchanged.
func (s *Store) Restore(r io.Reader) error {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 1<<20))
	var h snapshotHeader
	if err := dec.Decode(&h); err != nil {
		return fmt.Errorf("state: reading snapshot header: %w", err)
	}
	if h.Format != snapshotFormat {
		return fmt.Errorf("state: unknown snapshot format %d", h.Format)
	}
	db := newDB()
	txn := db.Txn(true)
	specs := map[specKey]*TaskSpec{}
	for {
		var rec snapshotRecord
		err := dec.Decode(&rec)
		if err == io.EOF {
			break
		}
		if err != nil {
			txn.Abort()
			return fmt.Errorf("state: reading snapshot: %w", err)
		}
		var o any
		switch {
		case rec.Cluster != nil:
			o = rec.Cluster
		case rec.Node != nil:
			o = rec.Node
		case rec.Service != nil:
			o = rec.Service
		case rec.Task != nil:
			shareSpec(specs, rec.Task)
			o = rec.Task
		default:
			txn.Abort()
			return fmt.Errorf("state: empty snapshot record")
		}
		if err := txn.Insert(string(o.(Object).Kind()), o); err != nil {
			txn.Abort()
			return fmt.Errorf("state: restoring %s: %w", o.(Object).Kind(), err)
		}
	}
	if err := txn.Insert(metaTable, &storeMeta{ID: metaID, Index: h.Index}); err != nil {
		txn.Abort()
		return err
	}
	txn.Commit()

	s.mu.Lock()
	defer s.mu.Unlock()
	s.db.Store(db)
	s.setIndex(h.Index)
	for w := range s.watchers {
		w.mu.Lock()
		w.fail(ErrResync)
		w.mu.Unlock()
		delete(s.watchers, w)
	}
	return nil
}

type specKey struct {
	service string
	version uint64
}

// shareSpec makes tasks made from the same service spec version share its
// slices and maps after a restore, as they do when created, so that a
// restored store uses as little memory as the original.
func shareSpec(specs map[specKey]*TaskSpec, t *Task) {
	k := specKey{t.ServiceID, t.SpecVersion.Index}
	if sp, ok := specs[k]; ok {
		if specEqual(sp, &t.Spec) {
			t.Spec = *sp
		}
		return
	}
	sp := t.Spec
	specs[k] = &sp
}
