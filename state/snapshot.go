package state

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"unsafe"

	"github.com/shoal-dev/shoal/model"
)

// Snapshot formats. A snapshot starts with a JSON header line that names
// its format, then:
//
//   - format 1: one JSON object per line (snapshotRecord). Written before
//     format 2; still read.
//   - format 2: binary records (see WriteTo), ended by an end record that
//     counts them, so that a truncated snapshot is refused. Still read.
//   - format 3: format 2 with networks, secrets and configs, and tasks
//     that carry their network attachments.
//
// Restore refuses formats it does not know with a clear error, as a
// manager of an older version does for format 2.
const (
	snapshotFormatJSON    = 1
	snapshotFormatBinary2 = 2
	snapshotFormat        = 3
)

type snapshotHeader struct {
	Format int    `json:"format"`
	Index  uint64 `json:"index"`
}

// snapshotRecord is one object in a format 1 snapshot. Exactly one field
// is set.
type snapshotRecord struct {
	Cluster *model.Cluster `json:"c,omitempty"`
	Node    *model.Node    `json:"n,omitempty"`
	Service *model.Service `json:"s,omitempty"`
	Task    *model.Task    `json:"t,omitempty"`
	Network *model.Network `json:"w,omitempty"`
	Secret  *model.Secret  `json:"x,omitempty"`
	Config  *model.Config  `json:"g,omitempty"`
}

// Record kinds of formats 2 and 3.
const (
	recCluster = 'c' // JSON of the Cluster
	recNode    = 'n' // JSON of the Node
	recNetwork = 'w' // JSON of the Network (format 3)
	recSecret  = 'x' // JSON of the Secret (format 3)
	recConfig  = 'g' // JSON of the Config (format 3)
	recService = 's' // JSON of the Service
	recSpec    = 'p' // JSON of a taskSpecRecord, numbered from 0 in order
	recTask    = 't' // binary task (encodeTask), naming its spec by number
	recEnd     = 'e' // number of records before it
)

// taskSpecRecord is the spec and published ports that tasks made from one
// service spec share: format 2 writes them once, not once per task.
type taskSpecRecord struct {
	Spec     model.TaskSpec      `json:"spec"`
	Endpoint *model.EndpointSpec `json:"endpoint,omitempty"`
}

// Snapshot is a point-in-time copy of the store that can be written out
// while writes go on.
type Snapshot struct {
	db *db
}

// Snapshot returns a consistent copy of the store's current state. It is
// cheap: committed versions of the store are immutable.
func (s *Store) Snapshot() *Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &Snapshot{db: s.db.Load()}
}

// Index is the store index the snapshot was taken at.
func (sn *Snapshot) Index() uint64 { return sn.db.index }

// WriteTo writes the snapshot in format 3: the JSON header line, then
// records, each a uvarint length and that many bytes: a kind byte and its
// data. Clusters, nodes, networks, secrets, configs and services are JSON; tasks are binary, and name
// their spec (with the service's published ports) among the spec records
// written before them, one per distinct spec of a service spec version.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<20)
	hdr, _ := json.Marshal(snapshotHeader{Format: snapshotFormat, Index: sn.db.index})
	sw := &snapshotWriter{w: bw, specs: map[specKey][]specRef{}}
	_, sw.err = bw.Write(append(hdr, '\n'))
	writeJSON := func(kind byte, v any) bool {
		if sw.err == nil {
			var b []byte
			b, sw.err = json.Marshal(v)
			sw.rec.buf = append(append(sw.rec.buf[:0], kind), b...)
			sw.flush()
		}
		return sw.err == nil
	}
	sn.db.clusters.ids.ascend(nil, func(e *item[model.Cluster]) bool { return writeJSON(recCluster, e.obj) })
	sn.db.nodes.ids.ascend(nil, func(e *item[model.Node]) bool { return writeJSON(recNode, e.obj) })
	sn.db.networks.ids.ascend(nil, func(e *item[model.Network]) bool { return writeJSON(recNetwork, e.obj) })
	sn.db.secrets.ids.ascend(nil, func(e *item[model.Secret]) bool { return writeJSON(recSecret, e.obj) })
	sn.db.configs.ids.ascend(nil, func(e *item[model.Config]) bool { return writeJSON(recConfig, e.obj) })
	sn.db.services.ids.ascend(nil, func(e *item[model.Service]) bool { return writeJSON(recService, e.obj) })
	sn.db.tasks.ids.ascend(nil, func(e *item[model.Task]) bool {
		t := e.obj
		spec := sw.spec(t)
		if sw.err != nil {
			return false
		}
		sw.rec.buf = append(sw.rec.buf[:0], recTask)
		encodeTask(&sw.rec, t, spec)
		sw.flush()
		return sw.err == nil
	})
	if sw.err == nil {
		n := sw.records
		sw.rec.buf = append(sw.rec.buf[:0], recEnd)
		sw.rec.uvarint(n)
		sw.flush()
	}
	if sw.err != nil {
		return cw.n, sw.err
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

// snapshotWriter writes format 2 records.
type snapshotWriter struct {
	w   *bufio.Writer
	rec encoder // the record being built; its symbols span the snapshot
	err error
	// records counts the records written.
	records uint64
	specs   map[specKey][]specRef
	nspecs  uint64
	lenBuf  [binary.MaxVarintLen64]byte
}

// specRef is a spec record written, and the task spec it was written for.
type specRef struct {
	spec     model.TaskSpec
	endpoint *model.EndpointSpec
	n        uint64
}

// maxSpecsPerKey bounds the specs remembered for one service spec version;
// a task whose spec is none of them gets a record of its own.
const maxSpecsPerKey = 4

func (sw *snapshotWriter) flush() {
	if sw.err != nil {
		return
	}
	l := binary.PutUvarint(sw.lenBuf[:], uint64(len(sw.rec.buf)))
	if _, err := sw.w.Write(sw.lenBuf[:l]); err != nil {
		sw.err = err
		return
	}
	if _, err := sw.w.Write(sw.rec.buf); err != nil {
		sw.err = err
		return
	}
	sw.records++
}

// spec returns the number of the spec record of t's spec and endpoint,
// writing one if there is none yet.
func (sw *snapshotWriter) spec(t *model.Task) uint64 {
	k := specKey{t.ServiceID, t.SpecVersion.Index}
	refs := sw.specs[k]
	for i := range refs {
		if sameTaskSpec(&refs[i].spec, &t.Spec) && refs[i].endpoint == t.Endpoint {
			return refs[i].n
		}
	}
	for i := range refs {
		if specEqual(&refs[i].spec, &t.Spec) && reflect.DeepEqual(refs[i].endpoint, t.Endpoint) {
			return refs[i].n
		}
	}
	b, err := json.Marshal(taskSpecRecord{Spec: t.Spec, Endpoint: t.Endpoint})
	if err != nil {
		sw.err = err
		return 0
	}
	sw.rec.buf = append(append(sw.rec.buf[:0], recSpec), b...)
	sw.flush()
	n := sw.nspecs
	sw.nspecs++
	if len(refs) < maxSpecsPerKey {
		sw.specs[k] = append(refs, specRef{spec: t.Spec, endpoint: t.Endpoint, n: n})
	}
	return n
}

// sameTaskSpec tells whether two specs are the same value, down to the
// pointers, slices and maps they share (tasks made from one service spec
// version share them): a sufficient condition for them to be equal that
// costs a memory comparison, where reflect.DeepEqual walks every field.
// Whatever fields TaskSpec gains, equal memory means equal specs.
func sameTaskSpec(a, b *model.TaskSpec) bool {
	const n = unsafe.Sizeof(model.TaskSpec{})
	return *(*[n]byte)(unsafe.Pointer(a)) == *(*[n]byte)(unsafe.Pointer(b))
}

// encodeTask writes a task but for its spec and endpoint, which the spec
// record numbered spec holds. TestTaskEncodingCoversEveryField fails when
// Task gains a field this does not write.
func encodeTask(e *encoder, t *model.Task, spec uint64) {
	e.str(t.ID)
	e.uvarint(t.Version.Index)
	e.time(t.CreatedAt)
	e.time(t.UpdatedAt)
	e.sym(t.ServiceID)
	e.sym(t.ServiceName)
	e.uvarint(t.Slot)
	e.sym(t.NodeID)
	e.uvarint(spec)
	e.uvarint(t.SpecVersion.Index)
	e.taskState(t.DesiredState)
	encodeTaskStatus(e, &t.Status)
	// Format 3.
	e.uvarint(uint64(len(t.Networks)))
	for i := range t.Networks {
		a := &t.Networks[i]
		e.sym(a.NetworkID)
		e.strs(a.Addresses)
		e.strs(a.Aliases)
	}
}

// decodeTask reads a task written by encodeTask in format (2 or 3).
func decodeTask(d *decoder, specs []taskSpecRecord, format int) *model.Task {
	t := &model.Task{}
	t.ID = d.str()
	t.Version.Index = d.uvarint()
	t.CreatedAt = d.time()
	t.UpdatedAt = d.time()
	t.ServiceID = d.sym()
	t.ServiceName = d.sym()
	t.Slot = d.uvarint()
	t.NodeID = d.sym()
	if n := d.uvarint(); n < uint64(len(specs)) {
		t.Spec, t.Endpoint = specs[n].Spec, specs[n].Endpoint
	} else {
		d.fail(fmt.Errorf("task spec %d of %d", n, len(specs)))
	}
	t.SpecVersion.Index = d.uvarint()
	t.DesiredState = d.taskState()
	decodeTaskStatus(d, &t.Status)
	if format >= 3 {
		if n := d.count(3); n > 0 {
			t.Networks = make([]model.NetworkAttachment, n)
			for i := range t.Networks {
				a := &t.Networks[i]
				a.NetworkID = d.sym()
				a.Addresses = d.strs()
				a.Aliases = d.strs()
			}
		}
	}
	return t
}

// encodeTaskStatus writes a task status; command entries carry them too.
func encodeTaskStatus(e *encoder, s *model.TaskStatus) {
	e.time(s.Timestamp)
	e.taskState(s.State)
	e.sym(s.Message)
	e.sym(s.Err)
	if c := s.Container; c != nil {
		e.byte(1)
		e.str(c.ContainerID)
		e.varint(int64(c.PID))
		e.varint(int64(c.ExitCode))
	} else {
		e.byte(0)
	}
	encodePorts(e, s.Ports)
}

func decodeTaskStatus(d *decoder, s *model.TaskStatus) {
	s.Timestamp = d.time()
	s.State = d.taskState()
	s.Message = d.sym()
	s.Err = d.sym()
	if d.bool() {
		s.Container = &model.ContainerStatus{ContainerID: d.str(), PID: int(d.varint()), ExitCode: int(d.varint())}
	}
	s.Ports = decodePorts(d)
}

// encodePorts writes ports; an empty list decodes as nil, as with JSON's
// omitempty.
func encodePorts(e *encoder, ps []model.PortConfig) {
	e.uvarint(uint64(len(ps)))
	for i := range ps {
		p := &ps[i]
		e.sym(p.Name)
		e.sym(p.Protocol)
		e.uvarint(uint64(p.TargetPort))
		e.uvarint(uint64(p.PublishedPort))
		e.sym(p.PublishMode)
	}
}

func decodePorts(d *decoder) []model.PortConfig {
	n := d.count(5)
	if n == 0 {
		return nil
	}
	ps := make([]model.PortConfig, n)
	for i := range ps {
		ps[i] = model.PortConfig{Name: d.sym(), Protocol: d.sym(), TargetPort: uint32(d.uvarint()), PublishedPort: uint32(d.uvarint()), PublishMode: d.sym()}
	}
	return ps
}

// Restore replaces the store's contents with a snapshot written by
// Snapshot.WriteTo, in format 2 or the older format 1. Every watcher is
// told to resync. On error the store is unchanged.
func (s *Store) Restore(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	line, err := br.ReadSlice('\n')
	if err != nil {
		return fmt.Errorf("state: reading snapshot header: %w", err)
	}
	var h snapshotHeader
	if err := json.Unmarshal(line, &h); err != nil {
		return fmt.Errorf("state: reading snapshot header: %w", err)
	}
	var db *db
	switch h.Format {
	case snapshotFormatJSON:
		db, err = restoreJSON(br)
	case snapshotFormatBinary2, snapshotFormat:
		db, err = restoreBinary(br, h.Format)
	default:
		return fmt.Errorf("state: unknown snapshot format %d (this version reads formats %d to %d)", h.Format, snapshotFormatJSON, snapshotFormat)
	}
	if err != nil {
		return err
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

// restorer builds the tables of a restored store.
type restorer struct {
	db *db
}

func (rs *restorer) add(o model.Object) error {
	var err error
	switch o := o.(type) {
	case *model.Cluster:
		err = rs.db.clusters.put(o.ID, o, rs.db.clusters.get(o.ID))
	case *model.Node:
		err = rs.db.nodes.put(o.ID, o, rs.db.nodes.get(o.ID))
	case *model.Service:
		err = rs.db.services.put(o.ID, o, rs.db.services.get(o.ID))
	case *model.Network:
		err = rs.db.networks.put(o.ID, o, rs.db.networks.get(o.ID))
	case *model.Secret:
		err = rs.db.secrets.put(o.ID, o, rs.db.secrets.get(o.ID))
	case *model.Config:
		err = rs.db.configs.put(o.ID, o, rs.db.configs.get(o.ID))
	case *model.Task:
		// Tasks share their service's and node's ID strings, as they do
		// when created and assigned.
		if sv := rs.db.services.get(o.ServiceID); sv != nil {
			o.ServiceID = sv.ID
		}
		if n := rs.db.nodes.get(o.NodeID); n != nil {
			o.NodeID = n.ID
		}
		err = rs.db.tasks.put(o.ID, o, rs.db.tasks.get(o.ID))
	}
	if err != nil {
		return fmt.Errorf("state: restoring %s: %w", o.Kind(), err)
	}
	return nil
}

func restoreJSON(r io.Reader) (*db, error) {
	rs := &restorer{db: newDB()}
	dec := json.NewDecoder(r)
	specs := map[specKey]*model.TaskSpec{}
	for {
		var rec snapshotRecord
		err := dec.Decode(&rec)
		if err == io.EOF {
			return rs.db, nil
		}
		if err != nil {
			return nil, fmt.Errorf("state: reading snapshot: %w", err)
		}
		var o model.Object
		switch {
		case rec.Cluster != nil:
			o = rec.Cluster
		case rec.Node != nil:
			o = rec.Node
		case rec.Service != nil:
			o = rec.Service
		case rec.Network != nil:
			o = rec.Network
		case rec.Secret != nil:
			o = rec.Secret
		case rec.Config != nil:
			o = rec.Config
		case rec.Task != nil:
			shareSpec(specs, rec.Task)
			o = rec.Task
		default:
			return nil, fmt.Errorf("state: empty snapshot record")
		}
		if err := rs.add(o); err != nil {
			return nil, err
		}
	}
}

// maxRecord bounds a format 2 or 3 record: a cluster, node, service or
// spec is kilobytes, a secret or config less than 1 MB.
const maxRecord = 64 << 20

func restoreBinary(br *bufio.Reader, format int) (*db, error) {
	rs := &restorer{db: newDB()}
	var specs []taskSpecRecord
	d := &decoder{}
	var buf []byte
	for records := uint64(0); ; records++ {
		n, err := binary.ReadUvarint(br)
		if err != nil {
			return nil, fmt.Errorf("state: reading snapshot: record %d: %w", records, noEOF(err))
		}
		if n == 0 || n > maxRecord {
			return nil, fmt.Errorf("state: reading snapshot: record %d of %d bytes", records, n)
		}
		// Records are decoded in place in the reader's buffer when they
		// fit (decoding copies what it keeps), or read into buf.
		peeked := false
		if p, err := br.Peek(int(n)); err == nil {
			buf, peeked = p, true
		} else {
			if uint64(cap(buf)) < n {
				buf = make([]byte, n)
			}
			buf = buf[:n]
			if _, err := io.ReadFull(br, buf); err != nil {
				return nil, fmt.Errorf("state: reading snapshot: record %d: %w", records, noEOF(err))
			}
		}
		kind, data := buf[0], buf[1:]
		var o model.Object
		switch kind {
		case recCluster:
			o, err = unmarshalObject[model.Cluster](data)
		case recNode:
			o, err = unmarshalObject[model.Node](data)
		case recService:
			o, err = unmarshalObject[model.Service](data)
		case recNetwork, recSecret, recConfig:
			if format < 3 {
				return nil, fmt.Errorf("state: reading snapshot: record %d of kind %q in format %d", records, kind, format)
			}
			switch kind {
			case recNetwork:
				o, err = unmarshalObject[model.Network](data)
			case recSecret:
				o, err = unmarshalObject[model.Secret](data)
			default:
				o, err = unmarshalObject[model.Config](data)
			}
		case recSpec:
			var sp taskSpecRecord
			if err = json.Unmarshal(data, &sp); err == nil {
				specs = append(specs, sp)
			}
		case recTask:
			d.b, d.off = data, 0
			o = decodeTask(d, specs, format)
			err = d.err
			if err == nil && d.off != len(data) {
				err = errors.New("bytes left over")
			}
		case recEnd:
			d.b, d.off = data, 0
			if c := d.uvarint(); d.err != nil || c != records {
				return nil, fmt.Errorf("state: reading snapshot: %d records, the end record says %d", records, c)
			}
			if peeked {
				_, _ = br.Discard(int(n))
			}
			if _, err := br.Peek(1); err != io.EOF {
				return nil, fmt.Errorf("state: reading snapshot: data after the end record")
			}
			return rs.db, nil
		default:
			return nil, fmt.Errorf("state: reading snapshot: record %d of unknown kind %q", records, kind)
		}
		if err != nil {
			return nil, fmt.Errorf("state: reading snapshot: record %d (%c): %w", records, kind, err)
		}
		if peeked {
			_, _ = br.Discard(int(n))
			buf = nil
		}
		if o != nil {
			if err := rs.add(o); err != nil {
				return nil, err
			}
		}
	}
}

// noEOF reports a snapshot that ends without its end record as truncated.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func unmarshalObject[T any, P object[T]](data []byte) (model.Object, error) {
	var o P = new(T)
	if err := json.Unmarshal(data, o); err != nil {
		return nil, err
	}
	return o, nil
}

type specKey struct {
	service string
	version uint64
}

// shareSpec makes tasks made from the same service spec version share its
// slices and maps after a restore of format 1, as they do when created, so
// that a restored store uses as little memory as the original.
func shareSpec(specs map[specKey]*model.TaskSpec, t *model.Task) {
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
