package state

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
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
	db *db
}

// Snapshot returns a consistent copy of the store's current state. It is
// cheap: go-memdb's trees are immutable.
func (s *Store) Snapshot() *Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &Snapshot{db: s.db.Load()}
}

// Index is the store index the snapshot was taken at.
func (sn *Snapshot) Index() uint64 { return sn.db.index }

// WriteTo writes the snapshot as a header line followed by one JSON object
// per line.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<20)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(snapshotHeader{Format: snapshotFormat, Index: sn.db.index}); err != nil {
		return cw.n, err
	}
	var err error
	encode := func(rec *snapshotRecord) bool {
		err = enc.Encode(rec)
		return err == nil
	}
	sn.db.clusters.ids.ascend(nil, func(e *item[Cluster]) bool { return encode(&snapshotRecord{Cluster: e.obj}) })
	if err == nil {
		sn.db.nodes.ids.ascend(nil, func(e *item[Node]) bool { return encode(&snapshotRecord{Node: e.obj}) })
	}
	if err == nil {
		sn.db.services.ids.ascend(nil, func(e *item[Service]) bool { return encode(&snapshotRecord{Service: e.obj}) })
	}
	if err == nil {
		sn.db.tasks.ids.ascend(nil, func(e *item[Task]) bool { return encode(&snapshotRecord{Task: e.obj}) })
	}
	if err != nil {
		return cw.n, err
	}
	err = bw.Flush()
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
	specs := map[specKey]*TaskSpec{}
	for {
		var rec snapshotRecord
		err := dec.Decode(&rec)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("state: reading snapshot: %w", err)
		}
		var kind Kind
		switch {
		case rec.Cluster != nil:
			kind, err = KindCluster, db.clusters.put(rec.Cluster.ID, rec.Cluster, db.clusters.get(rec.Cluster.ID))
		case rec.Node != nil:
			kind, err = KindNode, db.nodes.put(rec.Node.ID, rec.Node, db.nodes.get(rec.Node.ID))
		case rec.Service != nil:
			kind, err = KindService, db.services.put(rec.Service.ID, rec.Service, db.services.get(rec.Service.ID))
		case rec.Task != nil:
			shareSpec(specs, rec.Task)
			kind, err = KindTask, db.tasks.put(rec.Task.ID, rec.Task, db.tasks.get(rec.Task.ID))
		default:
			return fmt.Errorf("state: empty snapshot record")
		}
		if err != nil {
			return fmt.Errorf("state: restoring %s: %w", kind, err)
		}
	}
	db.seal(h.Index)

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
