package state

import (
	"fmt"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/model"
)

// Entry is one log entry for Apply: a command or, with Cmd nil, an entry
// that only moves the index (a Raft configuration change).
type Entry struct {
	Index uint64
	Cmd   *Command
}

// Apply applies log entries in one transaction and publishes their changes
// as one batch. It is called by the Raft FSM with committed entries, in
// order, and by tests and tools that build a store without Raft. Entries at
// or below the store's index are ignored.
//
// An operation that panics (a bug its data triggers, or a poison entry an
// older version committed) does not take the manager down, nor every
// manager that replays the log after it: the transaction is started over
// from the committed tables without that operation, whose result says it
// was not applied (ErrInvalid), and the rest of the entries apply. Every
// manager skips the same operation, since applying is deterministic, so
// their stores stay identical.
func (s *Store) Apply(entries ...Entry) []Results {
	s.mu.Lock()
	defer s.mu.Unlock()
	skip := map[opRef]*Error{}
	for {
		w, out, last, crash := s.applyEntries(entries, skip)
		if crash == nil {
			s.commit(w, last)
			return out
		}
		skip[crash.at] = crash.err
		if s.onApplyPanic != nil {
			s.onApplyPanic(crash.err, crash.stack)
		}
	}
}

// OnApplyPanic sets fn to be called, with the operation's error result
// and the panic's stack, for each operation Apply skips because it
// panicked: the Raft node logs them. fn runs with the store locked and must
// not use the store.
func (s *Store) OnApplyPanic(fn func(err error, stack []byte)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onApplyPanic = fn
}

// opRef locates an operation in the entries given to Apply.
type opRef struct{ entry, op int }

// opPanic is an operation that panicked while it applied.
type opPanic struct {
	at    opRef
	err   *Error
	stack []byte
}

// applyEntries applies entries in a new transaction, skipping the
// operations in skip (which fail with their error). It stops at the first
// operation that panics and returns it.
func (s *Store) applyEntries(entries []Entry, skip map[opRef]*Error) (w *writeTx, out []Results, last uint64, crash *opPanic) {
	w = &writeTx{db: *s.db.Load(), owner: &owner{}}
	out = make([]Results, len(entries))
	last = s.Index()
	w.events = make([]Event, 0, eventsHint(entries, last))
	for i, e := range entries {
		if e.Index <= last {
			continue
		}
		last = e.Index
		if e.Cmd == nil {
			continue
		}
		w.index, w.now = e.Index, e.Cmd.Time
		res := make(Results, len(e.Cmd.Ops))
		for j := range e.Cmd.Ops {
			at := opRef{i, j}
			if err := skip[at]; err != nil {
				res[j] = fail(err)
				continue
			}
			if res[j], crash = w.safeApply(&e.Cmd.Ops[j], e.Index, at); crash != nil {
				return nil, nil, 0, crash
			}
		}
		out[i] = res
	}
	return w, out, last, nil
}

// safeApply applies op, turning a panic into an opPanic.
func (w *writeTx) safeApply(op *Op, index uint64, at opRef) (res OpResult, crash *opPanic) {
	defer func() {
		if v := recover(); v != nil {
			crash = &opPanic{at: at, stack: debug.Stack(), err: errorf(ErrInvalid,
				"operation %s of log entry %d was not applied: it failed with an internal error (%v)", op.Type, index, v)}
		}
	}()
	return w.apply(op), nil
}

// commit publishes what w wrote, up to index last.
func (s *Store) commit(w *writeTx, last uint64) {
	if last == s.Index() {
		return
	}
	next := w.db
	next.seal(last)
	s.db.Store(&next)
	s.setIndex(last)
	b := Batch{Index: last, Events: w.events}
	for wt := range s.watchers {
		wt.publish(b)
	}
}

// eventsHint returns the number of events the entries above index can
// make at most, but for the tasks of deleted services, so that the
// batch's events are allocated once.
func eventsHint(entries []Entry, index uint64) int {
	n := 0
	for _, e := range entries {
		if e.Index <= index || e.Cmd == nil {
			continue
		}
		for i := range e.Cmd.Ops {
			op := &e.Cmd.Ops[i]
			n += 2 + len(op.NodeStatuses) + len(op.NewTasks) + len(op.IDs) +
				len(op.Assignments) + len(op.Pending) + len(op.TaskStatuses) + len(op.TaskNetworks)
		}
	}
	return n
}

// writeTx applies operations to the next version of the store: the
// committed tables, each made writable the first time it is written.
type writeTx struct {
	db db
	// owner owns the tree nodes this transaction made; cloned tells which
	// tables it made writable.
	owner  *owner
	cloned [7]bool
	// importing keeps the creation times of imported objects.
	importing bool
	index     uint64
	now       time.Time
	events    []Event
}

// Writable tables.

func (w *writeTx) clusters() *table[model.Cluster] {
	if !w.cloned[0] {
		w.db.clusters, w.cloned[0] = w.db.clusters.writable(w.owner), true
	}
	return &w.db.clusters
}

func (w *writeTx) nodes() *table[model.Node] {
	if !w.cloned[1] {
		w.db.nodes, w.cloned[1] = w.db.nodes.writable(w.owner), true
	}
	return &w.db.nodes
}

func (w *writeTx) services() *table[model.Service] {
	if !w.cloned[2] {
		w.db.services, w.cloned[2] = w.db.services.writable(w.owner), true
	}
	return &w.db.services
}

func (w *writeTx) tasks() *table[model.Task] {
	if !w.cloned[3] {
		w.db.tasks, w.cloned[3] = w.db.tasks.writable(w.owner), true
	}
	return &w.db.tasks
}

func (w *writeTx) networks() *table[model.Network] {
	if !w.cloned[4] {
		w.db.networks, w.cloned[4] = w.db.networks.writable(w.owner), true
	}
	return &w.db.networks
}

func (w *writeTx) secrets() *table[model.Secret] {
	if !w.cloned[5] {
		w.db.secrets, w.cloned[5] = w.db.secrets.writable(w.owner), true
	}
	return &w.db.secrets
}

func (w *writeTx) configs() *table[model.Config] {
	if !w.cloned[6] {
		w.db.configs, w.cloned[6] = w.db.configs.writable(w.owner), true
	}
	return &w.db.configs
}

// object is an Object of type T.
type object[T any] interface {
	*T
	model.Object
}

// metaOf returns the metadata of o for writing.
func metaOf(o model.Object) *model.Meta {
	switch o := o.(type) {
	case *model.Cluster:
		return &o.Meta
	case *model.Node:
		return &o.Meta
	case *model.Service:
		return &o.Meta
	case *model.Task:
		return &o.Meta
	case *model.Network:
		return &o.Meta
	case *model.Secret:
		return &o.Meta
	case *model.Config:
		return &o.Meta
	}
	panic(fmt.Sprintf("state: %T is not a stored object", o))
}

// put stores o, which replaces old (nil for a new object), with its meta
// set for this write, and records the event.
func put[T any, P object[T]](w *writeTx, t *table[T], o, old P) { write(w, t, nil, o, old, true) }

// putAt is put with the path a find of o's ID recorded in t.
func putAt[T any, P object[T]](w *writeTx, t *table[T], p *path[T], o, old P) {
	write(w, t, p, o, old, true)
}

// putStatus writes a change to fields the managers maintain (a node's
// observed status, a service's UpdateStatus): it keeps the object's
// version, so that a user's read-modify-write of the spec does not fail
// with "update out of sequence" because a heartbeat or an update step
// happened meanwhile. The operations that take user input preserve these
// fields (see updateNode), so nothing is lost either way.
func putStatus[T any, P object[T]](w *writeTx, t *table[T], o, old P) {
	write(w, t, nil, o, old, false)
}

func write[T any, P object[T]](w *writeTx, t *table[T], p *path[T], o, old P, bump bool) {
	m := metaOf(o)
	if bump || old == nil {
		m.Version.Index = w.index
	} else {
		m.Version = metaOf(old).Version
	}
	m.UpdatedAt = w.now
	if old == nil {
		if !w.importing || m.CreatedAt.IsZero() {
			m.CreatedAt = w.now
		}
	} else {
		m.CreatedAt = metaOf(old).CreatedAt
	}
	if err := t.putAt(p, o.GetID(), (*T)(o), (*T)(old)); err != nil {
		// Only schema violations fail an insert; preconditions were
		// checked before, so this is a bug: the panic fails the
		// operation, which Apply skips on every manager alike.
		panic("state: insert " + string(o.Kind()) + ": " + err.Error())
	}
	if old == nil {
		w.events = append(w.events, Event{Action: ActionCreate, Object: o, Time: w.now})
	} else {
		w.events = append(w.events, Event{Action: ActionUpdate, Object: o, Old: old, Time: w.now})
	}
}

// del deletes the stored object o and records the event.
func del[T any, P object[T]](w *writeTx, t *table[T], o P) {
	t.remove(o.GetID(), (*T)(o))
	w.events = append(w.events, Event{Action: ActionDelete, Object: o, Time: w.now})
}

func fail(e *Error) OpResult { return OpResult{Err: e} }

func (w *writeTx) apply(op *Op) OpResult {
	switch op.Type {
	case OpNoop:
		return OpResult{}
	case OpCreateCluster:
		return w.createCluster(op)
	case OpUpdateCluster:
		return w.updateCluster(op)
	case OpCreateNode:
		return w.createNode(op)
	case OpUpdateNode:
		return w.updateNode(op)
	case OpDeleteNode:
		return w.deleteNode(op)
	case OpNodeStatus:
		return w.nodeStatus(op)
	case OpCreateService:
		return w.createService(op)
	case OpUpdateService:
		return w.updateService(op)
	case OpDeleteService:
		return w.deleteService(op)
	case OpServiceUpdateStatus:
		return w.serviceUpdateStatus(op)
	case OpRollbackService:
		return w.rollbackService(op)
	case OpCreateTasks:
		return w.createTasks(op)
	case OpUpdateTask:
		return w.updateTask(op)
	case OpSetTasksDesired:
		return w.setTasksDesired(op)
	case OpAssignTasks:
		return w.assignTasks(op)
	case OpTaskPending:
		return w.taskPending(op)
	case OpTaskStatus:
		return w.taskStatus(op)
	case OpDeleteTasks:
		return w.deleteTasks(op)
	case OpCreateNetwork:
		return w.createNetwork(op)
	case OpUpdateNetwork:
		return w.updateNetwork(op)
	case OpDeleteNetwork:
		return w.deleteNetwork(op)
	case OpCreateSecret:
		return w.createSecret(op)
	case OpUpdateSecret:
		return w.updateSecret(op)
	case OpDeleteSecret:
		return w.deleteSecret(op)
	case OpCreateConfig:
		return w.createConfig(op)
	case OpUpdateConfig:
		return w.updateConfig(op)
	case OpDeleteConfig:
		return w.deleteConfig(op)
	case OpAllocateNetwork:
		return w.allocateNetwork(op)
	case OpAllocateService:
		return w.allocateService(op)
	case OpAllocateNode:
		return w.allocateNode(op)
	case OpAllocateTasks:
		return w.allocateTasks(op)
	case OpImport:
		return w.importObjects(op)
	}
	return fail(errorf(ErrInvalid, "unknown operation %q", op.Type))
}

// checkVersion compares the version a proposer read with the stored one.
func checkVersion(stored model.Object, want uint64) *Error {
	if stored.GetMeta().Version.Index != want {
		return ErrSequence
	}
	return nil
}

func (w *writeTx) createCluster(op *Op) OpResult {
	if op.Cluster == nil || op.Cluster.ID == "" {
		return fail(errorf(ErrInvalid, "create cluster: no cluster"))
	}
	if w.db.clusters.len() > 0 {
		return fail(errorf(ErrExists, "cluster already exists"))
	}
	put(w, w.clusters(), op.Cluster.Copy(), nil)
	return OpResult{}
}

func (w *writeTx) updateCluster(op *Op) OpResult {
	if op.Cluster == nil {
		return fail(errorf(ErrInvalid, "update cluster: no cluster"))
	}
	old := w.db.clusters.get(op.Cluster.ID)
	if old == nil {
		return fail(errorf(ErrNotFound, "cluster %s not found", op.Cluster.ID))
	}
	if err := checkVersion(old, op.Version); err != nil {
		return fail(err)
	}
	if err := checkAddrPoolKept(&old.Spec, &op.Cluster.Spec); err != nil {
		return fail(err)
	}
	put(w, w.clusters(), op.Cluster.Copy(), old)
	return OpResult{}
}

func (w *writeTx) createNode(op *Op) OpResult {
	if op.Node == nil || op.Node.ID == "" {
		return fail(errorf(ErrInvalid, "create node: no node"))
	}
	if w.db.nodes.get(op.Node.ID) != nil {
		return fail(errorf(ErrExists, "node %s already exists", op.Node.ID))
	}
	put(w, w.nodes(), op.Node.Copy(), nil)
	return OpResult{}
}

func (w *writeTx) updateNode(op *Op) OpResult {
	if op.Node == nil {
		return fail(errorf(ErrInvalid, "update node: no node"))
	}
	old := w.db.nodes.get(op.Node.ID)
	if old == nil {
		return fail(errorf(ErrNotFound, "node %s not found", op.Node.ID))
	}
	if err := checkVersion(old, op.Version); err != nil {
		return fail(err)
	}
	// The observed fields belong to OpNodeStatus, which does not bump the
	// version: keep the stored ones rather than the proposer's copy.
	n := op.Node.Copy()
	n.Status = old.Status
	n.Description = old.Description
	// So are the load-balancer addresses, which the allocator owns.
	n.Attachments = old.Attachments
	put(w, w.nodes(), n, old)
	return OpResult{}
}

func (w *writeTx) deleteNode(op *Op) OpResult {
	n := w.db.nodes.get(op.ID)
	if n == nil {
		return fail(errorf(ErrNotFound, "node %s not found", op.ID))
	}
	if op.Version != 0 {
		if err := checkVersion(n, op.Version); err != nil {
			return fail(err)
		}
	}
	del(w, w.nodes(), n)
	{
		if co := w.db.clusters.first(); co != nil {
			c := co.Copy()
			expiry := n.Certificate.NotAfter
			if expiry.IsZero() {
				expiry = w.now.Add(model.DefaultClusterSpec().CAConfig.NodeCertExpiry)
			}
			kept := c.RemovedNodes[:0:0]
			for _, r := range c.RemovedNodes {
				if r.Expiry.After(w.now) && r.ID != n.ID {
					kept = append(kept, r)
				}
			}
			c.RemovedNodes = append(kept, model.RemovedNode{ID: n.ID, Expiry: expiry})
			put(w, w.clusters(), c, co)
		}
	}
	return OpResult{}
}

func (w *writeTx) nodeStatus(op *Op) OpResult {
	var r OpResult
	for _, u := range op.NodeStatuses {
		old := w.db.nodes.get(u.ID)
		if old == nil {
			continue
		}
		changed := old.Status != u.Status ||
			(u.Description != nil && !reflect.DeepEqual(old.Description, *u.Description))
		if !changed {
			continue
		}
		n := old.Copy()
		n.Status = u.Status
		if u.Description != nil {
			n.Description = *u.Description
		}
		putStatus(w, w.nodes(), n, old)
		r.Applied++
	}
	return r
}

// serviceByName returns the service named name, if any.
func (w *writeTx) serviceByName(name string) *model.Service {
	var found *model.Service
	_ = w.db.services.scan(query{index: indexName, value: strings.ToLower(name)}, func(s *model.Service) bool {
		found = s
		return false
	})
	return found
}

func (w *writeTx) createService(op *Op) OpResult {
	s := op.Service
	if s == nil || s.ID == "" || s.Spec.Name == "" {
		return fail(errorf(ErrInvalid, "create service: no service, ID or name"))
	}
	if w.db.services.get(s.ID) != nil {
		return fail(errorf(ErrExists, "service %s already exists", s.ID))
	}
	if other := w.serviceByName(s.Spec.Name); other != nil {
		return fail(errorf(ErrNameConflict, "service name %s is already in use by service %s", s.Spec.Name, other.ID))
	}
	if err := w.checkServiceRefs(s); err != nil {
		return fail(err)
	}
	n := s.Copy()
	n.SpecVersion = model.Version{Index: w.index}
	n.JobStatus = nil
	if n.Spec.IsJob() {
		n.JobStatus = &model.JobStatus{JobIteration: n.SpecVersion, LastExecution: w.now}
	}
	put(w, w.services(), n, nil)
	return OpResult{}
}

// taskSpecChanged tells whether the parts of a service spec that its tasks
// are made from differ.
func taskSpecChanged(a, b *model.ServiceSpec) bool {
	return !reflect.DeepEqual(a.Task, b.Task) || !reflect.DeepEqual(a.Endpoint, b.Endpoint)
}

func (w *writeTx) updateService(op *Op) OpResult {
	s := op.Service
	if s == nil {
		return fail(errorf(ErrInvalid, "update service: no service"))
	}
	old := w.db.services.get(s.ID)
	if old == nil {
		return fail(errorf(ErrNotFound, "service %s not found", s.ID))
	}
	if err := checkVersion(old, op.Version); err != nil {
		return fail(err)
	}
	if other := w.serviceByName(s.Spec.Name); other != nil && other.ID != s.ID {
		return fail(errorf(ErrNameConflict, "service name %s is already in use by service %s", s.Spec.Name, other.ID))
	}
	if err := w.checkServiceRefs(s); err != nil {
		return fail(err)
	}
	n := s.Copy()
	// The allocated endpoint belongs to the allocator, like a node's
	// status: keep the stored one rather than the proposer's copy.
	n.Endpoint = old.Endpoint
	n.SpecVersion = old.SpecVersion
	n.JobStatus = old.JobStatus
	switch {
	case n.Spec.IsJob() != old.Spec.IsJob():
		return fail(errorf(ErrInvalid, "service %s: a job cannot become a service nor a service a job", s.ID))
	case n.Spec.IsJob():
		// Every change of a job's spec starts a new iteration: its tasks
		// run again, and the earlier iterations' are retired. The
		// iteration is the spec version, so that a task is of the current
		// iteration exactly when it is up to date.
		if !reflect.DeepEqual(old.Spec, n.Spec) || old.JobStatus == nil {
			n.SpecVersion = model.Version{Index: w.index}
			n.JobStatus = &model.JobStatus{JobIteration: n.SpecVersion, LastExecution: w.now}
		}
	case taskSpecChanged(&old.Spec, &n.Spec):
		n.SpecVersion = model.Version{Index: w.index}
	}
	put(w, w.services(), n, old)
	return OpResult{}
}

func (w *writeTx) deleteService(op *Op) OpResult {
	o := w.db.services.get(op.ID)
	if o == nil {
		return fail(errorf(ErrNotFound, "service %s not found", op.ID))
	}
	if op.Version != 0 {
		if err := checkVersion(o, op.Version); err != nil {
			return fail(err)
		}
	}
	del(w, w.services(), o)
	// Collect first: the tree must not change under its iteration.
	var tasks []*model.Task
	_ = w.db.tasks.scan(query{index: indexServiceID, value: op.ID}, func(t *model.Task) bool {
		tasks = append(tasks, t)
		return true
	})
	for _, t := range tasks {
		if t.NodeID == "" {
			del(w, w.tasks(), t)
			continue
		}
		if t.DesiredState < model.TaskStateRemove {
			n := shallowCopy(t)
			n.DesiredState = model.TaskStateRemove
			put(w, w.tasks(), n, t)
		}
	}
	return OpResult{}
}

func (w *writeTx) serviceAtSpec(id string, specVersion uint64) (*model.Service, *Error) {
	s := w.db.services.get(id)
	if s == nil {
		return nil, errorf(ErrNotFound, "service %s not found", id)
	}
	if s.SpecVersion.Index != specVersion {
		return nil, errorf(ErrConflict, "service %s spec is at version %d, not %d", id, s.SpecVersion.Index, specVersion)
	}
	return s, nil
}

func (w *writeTx) serviceUpdateStatus(op *Op) OpResult {
	s, err := w.serviceAtSpec(op.ID, op.SpecVersion)
	if err != nil {
		return fail(err)
	}
	if reflect.DeepEqual(s.UpdateStatus, op.UpdateStatus) {
		return OpResult{}
	}
	n := s.Copy()
	if op.UpdateStatus != nil {
		us := *op.UpdateStatus
		n.UpdateStatus = &us
	} else {
		n.UpdateStatus = nil
	}
	putStatus(w, w.services(), n, s)
	return OpResult{Applied: 1}
}

func (w *writeTx) rollbackService(op *Op) OpResult {
	s, err := w.serviceAtSpec(op.ID, op.SpecVersion)
	if err != nil {
		return fail(err)
	}
	if s.PreviousSpec == nil {
		return fail(errorf(ErrConflict, "service %s has no previous spec to roll back to", op.ID))
	}
	if s.Spec.IsJob() {
		return fail(errorf(ErrInvalid, "service %s is a job: jobs cannot be rolled back; update the job instead", op.ID))
	}
	n := s.Copy()
	n.Spec, n.PreviousSpec = *s.PreviousSpec, &s.Spec
	n.SpecVersion, n.PreviousSpecVersion = s.PreviousSpecVersion, s.SpecVersion
	if n.SpecVersion.Index == 0 {
		n.SpecVersion = model.Version{Index: w.index}
	}
	if op.UpdateStatus != nil {
		us := *op.UpdateStatus
		n.UpdateStatus = &us
	}
	put(w, w.services(), n, s)
	return OpResult{}
}

func (w *writeTx) createTasks(op *Op) OpResult {
	s, err := w.serviceAtSpec(op.ID, op.SpecVersion)
	if err != nil {
		return fail(err)
	}
	var r OpResult
	var p path[model.Task]
	// A job's tasks run to completion.
	desired := model.TaskStateRunning
	if s.Spec.IsJob() {
		desired = model.TaskStateComplete
	}
	for _, nt := range op.NewTasks {
		if nt.ID == "" || w.db.tasks.find(nt.ID, &p) != nil {
			continue
		}
		t := &model.Task{
			ID:           nt.ID,
			ServiceID:    s.ID,
			ServiceName:  s.Spec.Name,
			Slot:         nt.Slot,
			NodeID:       w.nodeID(nt.NodeID),
			Spec:         s.Spec.Task,
			SpecVersion:  s.SpecVersion,
			Endpoint:     s.Spec.Endpoint,
			DesiredState: desired,
			Status: model.TaskStatus{
				Timestamp: w.now,
				State:     model.TaskStatePending,
				Message:   "pending task scheduling",
			},
		}
		if NeedsNetworks(&t.Spec, t.Endpoint) {
			// The allocator makes it PENDING once it has addresses.
			t.Status.State, t.Status.Message = model.TaskStateNew, MessageWaitingForNetworks
		}
		putAt(w, w.tasks(), &p, t, nil)
		r.Applied++
	}
	return r
}

// nodeID returns id as the stored node's ID string if there is such a
// node: tasks then share it, which saves memory and makes the node index's
// comparisons of equal IDs cheap.
func (w *writeTx) nodeID(id string) string {
	if id == "" {
		return id
	}
	if n := w.db.nodes.get(id); n != nil {
		return n.ID
	}
	return id
}

func (w *writeTx) updateTask(op *Op) OpResult {
	if op.Task == nil {
		return fail(errorf(ErrInvalid, "update task: no task"))
	}
	old := w.db.tasks.get(op.Task.ID)
	if old == nil {
		return fail(errorf(ErrNotFound, "task %s not found", op.Task.ID))
	}
	if err := checkVersion(old, op.Version); err != nil {
		return fail(err)
	}
	put(w, w.tasks(), op.Task.Copy(), old)
	return OpResult{}
}

func (w *writeTx) task(id string) *model.Task { return w.db.tasks.get(id) }

// shallowCopy copies a stored task for a write that changes its fields
// only: what they point to is shared, as the store never changes an
// object's pointees in place (Task.Copy also copies the container status,
// for callers that might).
func shallowCopy(t *model.Task) *model.Task {
	c := *t
	return &c
}

// The batch operations on tasks find each task once: the path of the
// lookup serves the write.

func (w *writeTx) setTasksDesired(op *Op) OpResult {
	var r OpResult
	var p path[model.Task]
	for _, id := range op.IDs {
		t := w.db.tasks.find(id, &p)
		if t == nil || t.DesiredState >= op.DesiredState {
			continue
		}
		n := shallowCopy(t)
		n.DesiredState = op.DesiredState
		putAt(w, w.tasks(), &p, n, t)
		r.Applied++
	}
	return r
}

func (w *writeTx) assignTasks(op *Op) OpResult {
	var r OpResult
	var p path[model.Task]
	tasks := w.tasks()
	// A batch that names each node many times, as one of 100k tasks on
	// 1k nodes does, adds to each node's set in one run and looks each
	// node up once.
	var nodes map[string]*model.Node
	batch := len(op.Assignments) > 2*w.db.nodes.len()
	if batch {
		tasks.deferSets(len(op.Assignments))
		nodes = make(map[string]*model.Node, w.db.nodes.len())
	}
	for _, a := range op.Assignments {
		t := tasks.find(a.TaskID, &p)
		if t == nil || t.Status.State >= model.TaskStateAssigned || !t.DesiredState.Wanted() {
			continue
		}
		if t.NodeID != "" && t.NodeID != a.NodeID {
			continue
		}
		node, ok := nodes[a.NodeID]
		if !ok {
			node = w.db.nodes.get(a.NodeID)
			if nodes != nil {
				nodes[a.NodeID] = node
			}
		}
		if node == nil {
			continue
		}
		n := shallowCopy(t)
		n.NodeID = node.ID
		n.Status = model.TaskStatus{Timestamp: w.now, State: model.TaskStateAssigned, Message: "scheduler assigned task to node"}
		putAt(w, tasks, &p, n, t)
		r.Applied++
	}
	if batch {
		tasks.applySets()
	}
	return r
}

func (w *writeTx) taskPending(op *Op) OpResult {
	var r OpResult
	var p path[model.Task]
	for _, pr := range op.Pending {
		t := w.db.tasks.find(pr.TaskID, &p)
		if t == nil || t.Status.State > model.TaskStatePending || t.Status.Message == pr.Message {
			continue
		}
		n := shallowCopy(t)
		n.Status.Message = pr.Message
		n.Status.Timestamp = w.now
		putAt(w, w.tasks(), &p, n, t)
		r.Applied++
	}
	return r
}

func (w *writeTx) taskStatus(op *Op) OpResult {
	var r OpResult
	var p path[model.Task]
	for _, u := range op.TaskStatuses {
		t := w.db.tasks.find(u.TaskID, &p)
		if t == nil || t.NodeID != op.ID || u.Status.State < t.Status.State {
			continue
		}
		if u.Status.State == t.Status.State && statusEqual(&t.Status, &u.Status) {
			continue
		}
		n := shallowCopy(t)
		n.Status = u.Status
		putAt(w, w.tasks(), &p, n, t)
		r.Applied++
	}
	return r
}

// statusEqual is reflect.DeepEqual of the compared fields, without
// reflection: a nil and an empty Ports differ, as they do for DeepEqual.
func statusEqual(a, b *model.TaskStatus) bool {
	return a.State == b.State && a.Message == b.Message && a.Err == b.Err &&
		containerEqual(a.Container, b.Container) &&
		(a.Ports == nil) == (b.Ports == nil) && slices.Equal(a.Ports, b.Ports)
}

func containerEqual(a, b *model.ContainerStatus) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func (w *writeTx) deleteTasks(op *Op) OpResult {
	var r OpResult
	tasks := w.tasks()
	// As for assignTasks: the tasks' nodes repeat.
	batch := len(op.IDs) > 2*w.db.nodes.len()
	if batch {
		tasks.deferSets(2 * len(op.IDs))
	}
	for _, id := range op.IDs {
		if t := tasks.get(id); t != nil {
			del(w, tasks, t)
			r.Applied++
		}
	}
	if batch {
		tasks.applySets()
	}
	return r
}

func specEqual(a, b *model.TaskSpec) bool { return reflect.DeepEqual(a, b) }

func (w *writeTx) importObjects(op *Op) OpResult {
	w.importing = true
	defer func() { w.importing = false }()
	if op.Cluster != nil {
		for _, t := range []struct {
			kind model.Kind
			n    int
		}{
			{model.KindCluster, w.db.clusters.len()}, {model.KindNode, w.db.nodes.len()}, {model.KindService, w.db.services.len()}, {model.KindTask, w.db.tasks.len()},
			{model.KindNetwork, w.db.networks.len()}, {model.KindSecret, w.db.secrets.len()}, {model.KindConfig, w.db.configs.len()},
		} {
			if t.n > 0 {
				return fail(errorf(ErrExists, "import: the store is not empty (it holds %ss)", t.kind))
			}
		}
		put(w, w.clusters(), op.Cluster.Copy(), nil)
	}
	var r OpResult
	if op.Import == nil {
		return r
	}
	for _, n := range op.Import.Nodes {
		if n != nil && n.ID != "" && w.db.nodes.get(n.ID) == nil {
			put(w, w.nodes(), n.Copy(), nil)
			r.Applied++
		}
	}
	// Networks, secrets and configs first: services reference them.
	for _, n := range op.Import.Networks {
		if n != nil && n.ID != "" && n.Spec.Name != "" && w.db.networks.get(n.ID) == nil && w.networkByName(n.Spec.Name) == nil {
			put(w, w.networks(), n.Copy(), nil)
			r.Applied++
		}
	}
	for _, s := range op.Import.Secrets {
		if s != nil && s.ID != "" && s.Spec.Name != "" && w.db.secrets.get(s.ID) == nil && w.secretByName(s.Spec.Name) == nil {
			put(w, w.secrets(), s.Copy(), nil)
			r.Applied++
		}
	}
	for _, c := range op.Import.Configs {
		if c != nil && c.ID != "" && c.Spec.Name != "" && w.db.configs.get(c.ID) == nil && w.configByName(c.Spec.Name) == nil {
			put(w, w.configs(), c.Copy(), nil)
			r.Applied++
		}
	}
	for _, s := range op.Import.Services {
		if s == nil || s.ID == "" || w.db.services.get(s.ID) != nil || w.serviceByName(s.Spec.Name) != nil {
			continue
		}
		put(w, w.services(), s.Copy(), nil)
		r.Applied++
	}
	for _, t := range op.Import.Tasks {
		if t != nil && t.ID != "" && w.db.tasks.get(t.ID) == nil {
			put(w, w.tasks(), t.Copy(), nil)
			r.Applied++
		}
	}
	return r
}
