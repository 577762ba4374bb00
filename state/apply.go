package state

import (
	"reflect"
	"strings"
	"time"

	memdb "github.com/hashicorp/go-memdb"
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
	db := s.db.Load()
	txn := db.Txn(true)
	w := &writeTx{txn: txn}
	out := make([]Results, len(entries))
	last := s.Index()
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
		txn.Abort()
		return out
	}
	if err := txn.Insert(metaTable, &storeMeta{ID: metaID, Index: last}); err != nil {
		panic("state: writing meta: " + err.Error())
	}
	txn.Commit()
	s.setIndex(last)
	b := Batch{Index: last, Events: w.events}
	for wt := range s.watchers {
		wt.publish(b)
	}
	return out
}

// writeTx applies operations inside one memdb write transaction.
type writeTx struct {
	// importing keeps the creation times of imported objects.
	importing bool
	txn       *memdb.Txn
	index     uint64
	now       time.Time
	events    []Event
}

func (w *writeTx) get(kind Kind, id string) Object {
	o, err := w.txn.First(string(kind), indexID, id)
	if err != nil || o == nil {
		return nil
	}
	return o.(Object)
}

func (w *writeTx) insert(o Object, old Object) {
	w.put(o, old, true)
}

// insertStatus writes a change to fields the managers maintain (a node's
// observed status, a service's UpdateStatus): it keeps the object's
// version, so that a user's read-modify-write of the spec does not fail
// with "update out of sequence" because a heartbeat or an update step
// happened meanwhile. The operations that take user input preserve these
// fields (see updateNode), so nothing is lost either way.
func (w *writeTx) insertStatus(o Object, old Object) {
	w.put(o, old, false)
}

func (w *writeTx) put(o Object, old Object, bump bool) {
	m := o.GetMeta()
	if bump || old == nil {
		m.Version.Index = w.index
	} else {
		m.Version = old.GetMeta().Version
	}
	m.UpdatedAt = w.now
	if old == nil {
		if !w.importing || m.CreatedAt.IsZero() {
			m.CreatedAt = w.now
		}
	} else {
		m.CreatedAt = old.GetMeta().CreatedAt
	}
	o.setMeta(m)
	if err := w.txn.Insert(string(o.Kind()), o); err != nil {
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

func (w *writeTx) delete(o Object) {
	if err := w.txn.Delete(string(o.Kind()), o); err != nil {
		panic("state: delete " + string(o.Kind()) + ": " + err.Error())
	}
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
	if it, _ := w.txn.Get(string(KindCluster), indexID); it != nil && it.Next() != nil {
		return fail(errorf(ErrExists, "cluster already exists"))
	}
	w.insert(op.Cluster.Copy(), nil)
	return OpResult{}
}

func (w *writeTx) updateCluster(op *Op) OpResult {
	if op.Cluster == nil {
		return fail(errorf(ErrInvalid, "update cluster: no cluster"))
	}
	old := w.get(KindCluster, op.Cluster.ID)
	if old == nil {
		return fail(errorf(ErrNotFound, "cluster %s not found", op.Cluster.ID))
	}
	if err := checkVersion(old, op.Version); err != nil {
		return fail(err)
	}
	w.insert(op.Cluster.Copy(), old)
	return OpResult{}
}

func (w *writeTx) createNode(op *Op) OpResult {
	if op.Node == nil || op.Node.ID == "" {
		return fail(errorf(ErrInvalid, "create node: no node"))
	}
	if w.get(KindNode, op.Node.ID) != nil {
		return fail(errorf(ErrExists, "node %s already exists", op.Node.ID))
	}
	w.insert(op.Node.Copy(), nil)
	return OpResult{}
}

func (w *writeTx) updateNode(op *Op) OpResult {
	if op.Node == nil {
		return fail(errorf(ErrInvalid, "update node: no node"))
	}
	old := w.get(KindNode, op.Node.ID)
	if old == nil {
		return fail(errorf(ErrNotFound, "node %s not found", op.Node.ID))
	}
	if err := checkVersion(old, op.Version); err != nil {
		return fail(err)
	}
	// The observed fields belong to OpNodeStatus, which does not bump the
	// version: keep the stored ones rather than the proposer's copy.
	n := op.Node.Copy()
	n.Status = old.(*Node).Status
	n.Description = old.(*Node).Description
	w.insert(n, old)
	return OpResult{}
}

func (w *writeTx) deleteNode(op *Op) OpResult {
	o := w.get(KindNode, op.ID)
	if o == nil {
		return fail(errorf(ErrNotFound, "node %s not found", op.ID))
	}
	if op.Version != 0 {
		if err := checkVersion(o, op.Version); err != nil {
			return fail(err)
		}
	}
	n := o.(*Node)
	w.delete(n)
	if it, _ := w.txn.Get(string(KindCluster), indexID); it != nil {
		if co := it.Next(); co != nil {
			c := co.(*Cluster).Copy()
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
			w.insert(c, co.(Object))
		}
	}
	return OpResult{}
}

func (w *writeTx) nodeStatus(op *Op) OpResult {
	var r OpResult
	for _, u := range op.NodeStatuses {
		o := w.get(KindNode, u.ID)
		if o == nil {
			continue
		}
		old := o.(*Node)
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
		w.insertStatus(n, old)
		r.Applied++
	}
	return r
}

// serviceByName returns the service named name, if any.
func (w *writeTx) serviceByName(name string) *Service {
	o, err := w.txn.First(string(KindService), indexName, strings.ToLower(name))
	if err != nil || o == nil {
		return nil
	}
	return o.(*Service)
}

func (w *writeTx) createService(op *Op) OpResult {
	s := op.Service
	if s == nil || s.ID == "" || s.Spec.Name == "" {
		return fail(errorf(ErrInvalid, "create service: no service, ID or name"))
	}
	if w.get(KindService, s.ID) != nil {
		return fail(errorf(ErrExists, "service %s already exists", s.ID))
	}
	if other := w.serviceByName(s.Spec.Name); other != nil {
		return fail(errorf(ErrNameConflict, "service name %s is already in use by service %s", s.Spec.Name, other.ID))
	}
	n := s.Copy()
	n.SpecVersion = Version{Index: w.index}
	w.insert(n, nil)
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
	o := w.get(KindService, s.ID)
	if o == nil {
		return fail(errorf(ErrNotFound, "service %s not found", s.ID))
	}
	if err := checkVersion(o, op.Version); err != nil {
		return fail(err)
	}
	old := o.(*Service)
	if other := w.serviceByName(s.Spec.Name); other != nil && other.ID != s.ID {
		return fail(errorf(ErrNameConflict, "service name %s is already in use by service %s", s.Spec.Name, other.ID))
	}
	n := s.Copy()
	n.SpecVersion = old.SpecVersion
	if taskSpecChanged(&old.Spec, &n.Spec) {
		n.SpecVersion = Version{Index: w.index}
	}
	w.insert(n, old)
	return OpResult{}
}

func (w *writeTx) deleteService(op *Op) OpResult {
	o := w.get(KindService, op.ID)
	if o == nil {
		return fail(errorf(ErrNotFound, "service %s not found", op.ID))
	}
	if op.Version != 0 {
		if err := checkVersion(o, op.Version); err != nil {
			return fail(err)
		}
	}
	w.delete(o)
	tasks := w.tasksBy(indexServiceID, op.ID)
	for _, t := range tasks {
		if t.NodeID == "" {
			w.delete(t)
			continue
		}
		if t.DesiredState < TaskStateRemove {
			n := t.Copy()
			n.DesiredState = TaskStateRemove
			w.insert(n, t)
		}
	}
	return OpResult{}
}

func (w *writeTx) tasksBy(index string, args ...any) []*Task {
	it, err := w.txn.Get(string(KindTask), index, args...)
	if err != nil {
		return nil
	}
	var out []*Task
	for o := it.Next(); o != nil; o = it.Next() {
		out = append(out, o.(*Task))
	}
	return out
}

func (w *writeTx) serviceAtSpec(id string, specVersion uint64) (*Service, *Error) {
	o := w.get(KindService, id)
	if o == nil {
		return nil, errorf(ErrNotFound, "service %s not found", id)
	}
	s := o.(*Service)
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
	w.insertStatus(n, s)
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
	w.insert(n, s)
	return OpResult{}
}

func (w *writeTx) createTasks(op *Op) OpResult {
	s, err := w.serviceAtSpec(op.ID, op.SpecVersion)
	if err != nil {
		return fail(err)
	}
	var r OpResult
	for _, nt := range op.NewTasks {
		if nt.ID == "" || w.get(KindTask, nt.ID) != nil {
			continue
		}
		t := &Task{
			ID:           nt.ID,
			ServiceID:    s.ID,
			ServiceName:  s.Spec.Name,
			Slot:         nt.Slot,
			NodeID:       nt.NodeID,
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
		w.insert(t, nil)
		r.Applied++
	}
	return r
}

func (w *writeTx) updateTask(op *Op) OpResult {
	if op.Task == nil {
		return fail(errorf(ErrInvalid, "update task: no task"))
	}
	old := w.get(KindTask, op.Task.ID)
	if old == nil {
		return fail(errorf(ErrNotFound, "task %s not found", op.Task.ID))
	}
	if err := checkVersion(old, op.Version); err != nil {
		return fail(err)
	}
	w.insert(op.Task.Copy(), old)
	return OpResult{}
}

func (w *writeTx) task(id string) *Task {
	o := w.get(KindTask, id)
	if o == nil {
		return nil
	}
	return o.(*Task)
}

func (w *writeTx) setTasksDesired(op *Op) OpResult {
	var r OpResult
	for _, id := range op.IDs {
		t := w.task(id)
		if t == nil || t.DesiredState >= op.DesiredState {
			continue
		}
		n := t.Copy()
		n.DesiredState = op.DesiredState
		w.insert(n, t)
		r.Applied++
	}
	return r
}

func (w *writeTx) assignTasks(op *Op) OpResult {
	var r OpResult
	for _, a := range op.Assignments {
		t := w.task(a.TaskID)
		if t == nil || t.Status.State >= TaskStateAssigned || t.DesiredState > TaskStateRunning {
			continue
		}
		if t.NodeID != "" && t.NodeID != a.NodeID {
			continue
		}
		if w.get(KindNode, a.NodeID) == nil {
			continue
		}
		n := t.Copy()
		n.NodeID = a.NodeID
		n.Status = TaskStatus{Timestamp: w.now, State: TaskStateAssigned, Message: "scheduler assigned task to node"}
		w.insert(n, t)
		r.Applied++
	}
	return r
}

func (w *writeTx) taskPending(op *Op) OpResult {
	var r OpResult
	for _, p := range op.Pending {
		t := w.task(p.TaskID)
		if t == nil || t.Status.State != TaskStatePending || t.Status.Message == p.Message {
			continue
		}
		n := t.Copy()
		n.Status.Message = p.Message
		n.Status.Timestamp = w.now
		w.insert(n, t)
		r.Applied++
	}
	return r
}

func (w *writeTx) taskStatus(op *Op) OpResult {
	var r OpResult
	for _, u := range op.TaskStatuses {
		t := w.task(u.TaskID)
		if t == nil || t.NodeID != op.ID || u.Status.State < t.Status.State {
			continue
		}
		if u.Status.State == t.Status.State && statusEqual(&t.Status, &u.Status) {
			continue
		}
		n := t.Copy()
		n.Status = u.Status
		w.insert(n, t)
		r.Applied++
	}
	return r
}

func statusEqual(a, b *TaskStatus) bool {
	return a.State == b.State && a.Message == b.Message && a.Err == b.Err &&
		reflect.DeepEqual(a.Container, b.Container) && reflect.DeepEqual(a.Ports, b.Ports)
}

func (w *writeTx) deleteTasks(op *Op) OpResult {
	var r OpResult
	for _, id := range op.IDs {
		if t := w.task(id); t != nil {
			w.delete(t)
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
		for _, k := range []Kind{KindCluster, KindNode, KindService, KindTask} {
			if it, _ := w.txn.Get(string(k), indexID); it != nil && it.Next() != nil {
				return fail(errorf(ErrExists, "import: the store is not empty (it holds %ss)", k))
			}
		}
		w.insert(op.Cluster.Copy(), nil)
	}
	var r OpResult
	if op.Import == nil {
		return r
	}
	for _, n := range op.Import.Nodes {
		if n != nil && n.ID != "" && w.get(KindNode, n.ID) == nil {
			w.insert(n.Copy(), nil)
			r.Applied++
		}
	}
	for _, s := range op.Import.Services {
		if s == nil || s.ID == "" || w.get(KindService, s.ID) != nil || w.serviceByName(s.Spec.Name) != nil {
			continue
		}
		w.insert(s.Copy(), nil)
		r.Applied++
	}
	for _, t := range op.Import.Tasks {
		if t != nil && t.ID != "" && w.get(KindTask, t.ID) == nil {
			w.insert(t.Copy(), nil)
			r.Applied++
		}
	}
	return r
}
