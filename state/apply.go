package state

import (
	"reflect"
	"slices"
	"strings"
	"time"
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
func (s *Store) Apply(entries ...Entry) []Results {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := &writeTx{db: *s.db.Load(), owner: &owner{}}
	out := make([]Results, len(entries))
	last := s.Index()
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
			res[j] = w.apply(&e.Cmd.Ops[j])
		}
		out[i] = res
	}
	if last == s.Index() {
		return out
	}
	next := w.db
	next.seal(last)
	s.db.Store(&next)
	s.setIndex(last)
	b := Batch{Index: last, Events: w.events}
	for wt := range s.watchers {
		wt.publish(b)
	}
	return out
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
				len(op.Assignments) + len(op.Pending) + len(op.TaskStatuses)
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
	cloned [4]bool
	// importing keeps the creation times of imported objects.
	importing bool
	index     uint64
	now       time.Time
	events    []Event
}

// Writable tables.

func (w *writeTx) clusters() *table[Cluster] {
	if !w.cloned[0] {
		w.db.clusters, w.cloned[0] = w.db.clusters.writable(w.owner), true
	}
	return &w.db.clusters
}

func (w *writeTx) nodes() *table[Node] {
	if !w.cloned[1] {
		w.db.nodes, w.cloned[1] = w.db.nodes.writable(w.owner), true
	}
	return &w.db.nodes
}

func (w *writeTx) services() *table[Service] {
	if !w.cloned[2] {
		w.db.services, w.cloned[2] = w.db.services.writable(w.owner), true
	}
	return &w.db.services
}

func (w *writeTx) tasks() *table[Task] {
	if !w.cloned[3] {
		w.db.tasks, w.cloned[3] = w.db.tasks.writable(w.owner), true
	}
	return &w.db.tasks
}

// object is an Object of type T.
type object[T any] interface {
	*T
	Object
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
	m := o.meta()
	if bump || old == nil {
		m.Version.Index = w.index
	} else {
		m.Version = old.meta().Version
	}
	m.UpdatedAt = w.now
	if old == nil {
		if !w.importing || m.CreatedAt.IsZero() {
			m.CreatedAt = w.now
		}
	} else {
		m.CreatedAt = old.meta().CreatedAt
	}
	if err := t.putAt(p, o.GetID(), (*T)(o), (*T)(old)); err != nil {
		// Only schema violations fail an insert; preconditions were
		// checked before, so this is a bug and the FSM must not go on.
		panic("state: insert " + string(o.Kind()) + ": " + err.Error())
	}
	if old == nil {
		w.events = append(w.events, Event{Action: ActionCreate, Object: o})
	} else {
		w.events = append(w.events, Event{Action: ActionUpdate, Object: o, Old: old})
	}
}

// del deletes the stored object o and records the event.
func del[T any, P object[T]](w *writeTx, t *table[T], o P) {
	t.remove(o.GetID(), (*T)(o))
	w.events = append(w.events, Event{Action: ActionDelete, Object: o})
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
	case OpImport:
		return w.importObjects(op)
	}
	return fail(errorf(ErrInvalid, "unknown operation %q", op.Type))
}

// checkVersion compares the version a proposer read with the stored one.
func checkVersion(stored Object, want uint64) *Error {
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
				expiry = w.now.Add(DefaultClusterSpec().CAConfig.NodeCertExpiry)
			}
			kept := c.RemovedNodes[:0:0]
			for _, r := range c.RemovedNodes {
				if r.Expiry.After(w.now) && r.ID != n.ID {
					kept = append(kept, r)
				}
			}
			c.RemovedNodes = append(kept, RemovedNode{ID: n.ID, Expiry: expiry})
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
func (w *writeTx) serviceByName(name string) *Service {
	var found *Service
	_ = w.db.services.scan(query{index: indexName, value: strings.ToLower(name)}, func(s *Service) bool {
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
	n := s.Copy()
	n.SpecVersion = Version{Index: w.index}
	put(w, w.services(), n, nil)
	return OpResult{}
}

// taskSpecChanged tells whether the parts of a service spec that its tasks
// are made from differ.
func taskSpecChanged(a, b *ServiceSpec) bool {
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
	n := s.Copy()
	n.SpecVersion = old.SpecVersion
	if taskSpecChanged(&old.Spec, &n.Spec) {
		n.SpecVersion = Version{Index: w.index}
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
	var tasks []*Task
	_ = w.db.tasks.scan(query{index: indexServiceID, value: op.ID}, func(t *Task) bool {
		tasks = append(tasks, t)
		return true
	})
	for _, t := range tasks {
		if t.NodeID == "" {
			del(w, w.tasks(), t)
			continue
		}
		if t.DesiredState < TaskStateRemove {
			n := shallowCopy(t)
			n.DesiredState = TaskStateRemove
			put(w, w.tasks(), n, t)
		}
	}
	return OpResult{}
}

func (w *writeTx) serviceAtSpec(id string, specVersion uint64) (*Service, *Error) {
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
	n := s.Copy()
	n.Spec, n.PreviousSpec = *s.PreviousSpec, &s.Spec
	n.SpecVersion, n.PreviousSpecVersion = s.PreviousSpecVersion, s.SpecVersion
	if n.SpecVersion.Index == 0 {
		n.SpecVersion = Version{Index: w.index}
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
	var p path[Task]
	for _, nt := range op.NewTasks {
		if nt.ID == "" || w.db.tasks.find(nt.ID, &p) != nil {
			continue
		}
		t := &Task{
			ID:           nt.ID,
			ServiceID:    s.ID,
			ServiceName:  s.Spec.Name,
			Slot:         nt.Slot,
			NodeID:       w.nodeID(nt.NodeID),
			Spec:         s.Spec.Task,
			SpecVersion:  s.SpecVersion,
			Endpoint:     s.Spec.Endpoint,
			DesiredState: TaskStateRunning,
			Status: TaskStatus{
				Timestamp: w.now,
				State:     TaskStatePending,
				Message:   "pending task scheduling",
			},
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

func (w *writeTx) task(id string) *Task { return w.db.tasks.get(id) }

// shallowCopy copies a stored task for a write that changes its fields
// only: what they point to is shared, as the store never changes an
// object's pointees in place (Task.Copy also copies the container status,
// for callers that might).
func shallowCopy(t *Task) *Task {
	c := *t
	return &c
}

// The batch operations on tasks find each task once: the path of the
// lookup serves the write.

func (w *writeTx) setTasksDesired(op *Op) OpResult {
	var r OpResult
	var p path[Task]
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
	var p path[Task]
	for _, a := range op.Assignments {
		t := w.db.tasks.find(a.TaskID, &p)
		if t == nil || t.Status.State >= TaskStateAssigned || t.DesiredState > TaskStateRunning {
			continue
		}
		if t.NodeID != "" && t.NodeID != a.NodeID {
			continue
		}
		node := w.db.nodes.get(a.NodeID)
		if node == nil {
			continue
		}
		n := shallowCopy(t)
		n.NodeID = node.ID
		n.Status = TaskStatus{Timestamp: w.now, State: TaskStateAssigned, Message: "scheduler assigned task to node"}
		putAt(w, w.tasks(), &p, n, t)
		r.Applied++
	}
	return r
}

func (w *writeTx) taskPending(op *Op) OpResult {
	var r OpResult
	var p path[Task]
	for _, pr := range op.Pending {
		t := w.db.tasks.find(pr.TaskID, &p)
		if t == nil || t.Status.State != TaskStatePending || t.Status.Message == pr.Message {
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
	var p path[Task]
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
func statusEqual(a, b *TaskStatus) bool {
	return a.State == b.State && a.Message == b.Message && a.Err == b.Err &&
		containerEqual(a.Container, b.Container) &&
		(a.Ports == nil) == (b.Ports == nil) && slices.Equal(a.Ports, b.Ports)
}

func containerEqual(a, b *ContainerStatus) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func (w *writeTx) deleteTasks(op *Op) OpResult {
	var r OpResult
	for _, id := range op.IDs {
		if t := w.task(id); t != nil {
			del(w, w.tasks(), t)
			r.Applied++
		}
	}
	return r
}

func specEqual(a, b *TaskSpec) bool { return reflect.DeepEqual(a, b) }

// TaskUpToDate tells whether a task was made from its service's current
// spec: Docker's `_up-to-date` filter and the update orchestrator's test of
// which tasks to replace.
func TaskUpToDate(t *Task, s *Service) bool {
	if t.SpecVersion == s.SpecVersion {
		return true
	}
	return specEqual(&t.Spec, &s.Spec.Task) && reflect.DeepEqual(t.Endpoint, s.Spec.Endpoint)
}

func (w *writeTx) importObjects(op *Op) OpResult {
	w.importing = true
	defer func() { w.importing = false }()
	if op.Cluster != nil {
		for _, t := range []struct {
			kind Kind
			n    int
		}{{KindCluster, w.db.clusters.len()}, {KindNode, w.db.nodes.len()}, {KindService, w.db.services.len()}, {KindTask, w.db.tasks.len()}} {
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
