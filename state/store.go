package state

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	memdb "github.com/hashicorp/go-memdb"
)

// Store is the in-memory state of the swarm: a go-memdb database whose
// writes come only from committed Raft log entries (see Apply), with a
// change feed. Reads see consistent snapshots and never block writes.
type Store struct {
	// mu serialises writers, restores and watcher registration, so that a
	// watcher registered in ViewAndWatch sees exactly the changes after its
	// view.
	mu       sync.Mutex
	db       atomic.Pointer[memdb.MemDB]
	index    atomic.Uint64
	watchers map[*Watcher]struct{}

	// applied is closed and replaced after every commit, to wake
	// WaitForIndex callers.
	appliedMu sync.Mutex
	applied   chan struct{}
}

// NewStore returns an empty store.
func NewStore() *Store {
	s := &Store{watchers: map[*Watcher]struct{}{}, applied: make(chan struct{})}
	s.db.Store(newDB())
	return s
}

func newDB() *memdb.MemDB {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		panic("state: bad schema: " + err.Error())
	}
	return db
}

// Index returns the index of the last change applied to the store: the Raft
// index of the last command or configuration entry, or of the restored
// snapshot. Indexes are identical on every manager for the same history.
func (s *Store) Index() uint64 { return s.index.Load() }

// WaitForIndex blocks until the store has applied index idx or ctx ends.
func (s *Store) WaitForIndex(ctx context.Context, idx uint64) error {
	for {
		s.appliedMu.Lock()
		ch := s.applied
		s.appliedMu.Unlock()
		if s.Index() >= idx {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("state: waiting for index %d (at %d): %w", idx, s.Index(), ctx.Err())
		}
	}
}

func (s *Store) setIndex(idx uint64) {
	s.index.Store(idx)
	s.appliedMu.Lock()
	close(s.applied)
	s.applied = make(chan struct{})
	s.appliedMu.Unlock()
}

// View runs fn on a consistent read-only snapshot of the store. It never
// blocks on writers. The objects fn sees must not be modified.
func (s *Store) View(fn func(ReadTx) error) error {
	return fn(newReadTx(s.db.Load().Txn(false)))
}

func newReadTx(txn *memdb.Txn) *readTx {
	tx := &readTx{txn: txn}
	if o, err := txn.First(metaTable, indexID, metaID); err == nil && o != nil {
		tx.index = o.(*storeMeta).Index
	}
	return tx
}

// ViewAndWatch runs fn on a snapshot and returns a watcher that receives
// every change committed after that snapshot, none missing, none twice.
func (s *Store) ViewAndWatch(fn func(ReadTx) error, opts ...WatchOption) (*Watcher, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fn != nil {
		if err := fn(newReadTx(s.db.Load().Txn(false))); err != nil {
			return nil, err
		}
	}
	w := newWatcher(s, opts)
	s.watchers[w] = struct{}{}
	return w, nil
}

// Watch returns a watcher of the changes from now on.
func (s *Store) Watch(opts ...WatchOption) *Watcher {
	w, _ := s.ViewAndWatch(nil, opts...)
	return w
}

func (s *Store) removeWatcher(w *Watcher) {
	s.mu.Lock()
	delete(s.watchers, w)
	s.mu.Unlock()
}

// ReadTx reads a consistent snapshot of the store. Returned objects are
// shared: never modify them; Copy first.
type ReadTx interface {
	// Index is the store index of the snapshot.
	Index() uint64
	// Cluster returns the cluster object, or nil before init.
	Cluster() *Cluster
	GetCluster(id string) *Cluster
	GetNode(id string) *Node
	GetService(id string) *Service
	GetTask(id string) *Task
	FindNodes(by By) ([]*Node, error)
	FindServices(by By) ([]*Service, error)
	FindTasks(by By) ([]*Task, error)
	// ForEachTask calls fn for each matching task until fn returns false;
	// it allocates nothing per task.
	ForEachTask(by By, fn func(*Task) bool) error
}

type readTx struct {
	txn   *memdb.Txn
	index uint64
}

func (tx *readTx) Index() uint64 { return tx.index }

func (tx *readTx) get(kind Kind, id string) Object {
	o, err := tx.txn.First(string(kind), indexID, id)
	if err != nil || o == nil {
		return nil
	}
	return o.(Object)
}

func (tx *readTx) Cluster() *Cluster {
	it, err := tx.txn.Get(string(KindCluster), indexID)
	if err != nil {
		return nil
	}
	if o := it.Next(); o != nil {
		return o.(*Cluster)
	}
	return nil
}

func (tx *readTx) GetCluster(id string) *Cluster {
	o, _ := tx.get(KindCluster, id).(*Cluster)
	return o
}

func (tx *readTx) GetNode(id string) *Node {
	o, _ := tx.get(KindNode, id).(*Node)
	return o
}

func (tx *readTx) GetService(id string) *Service {
	o, _ := tx.get(KindService, id).(*Service)
	return o
}

func (tx *readTx) GetTask(id string) *Task {
	o, _ := tx.get(KindTask, id).(*Task)
	return o
}

func (tx *readTx) iter(kind Kind, by By) (memdb.ResultIterator, error) {
	index, args, err := by.query(kind)
	if err != nil {
		return nil, err
	}
	return tx.txn.Get(string(kind), index, args...)
}

func find[T Object](tx *readTx, kind Kind, by By) ([]T, error) {
	it, err := tx.iter(kind, by)
	if err != nil {
		return nil, err
	}
	var out []T
	for o := it.Next(); o != nil; o = it.Next() {
		out = append(out, o.(T))
	}
	return out, nil
}

func (tx *readTx) FindNodes(by By) ([]*Node, error) { return find[*Node](tx, KindNode, by) }
func (tx *readTx) FindServices(by By) ([]*Service, error) {
	return find[*Service](tx, KindService, by)
}
func (tx *readTx) FindTasks(by By) ([]*Task, error) { return find[*Task](tx, KindTask, by) }

func (tx *readTx) ForEachTask(by By, fn func(*Task) bool) error {
	it, err := tx.iter(KindTask, by)
	if err != nil {
		return err
	}
	for o := it.Next(); o != nil; o = it.Next() {
		if !fn(o.(*Task)) {
			return nil
		}
	}
	return nil
}

// By selects objects in Find calls.
type By interface {
	query(kind Kind) (index string, args []any, err error)
}

type byFunc func(kind Kind) (string, []any, error)

func (f byFunc) query(kind Kind) (string, []any, error) { return f(kind) }

func unsupported(by string, kind Kind) error {
	return fmt.Errorf("%w: cannot select %ss by %s", ErrInvalid, kind, by)
}

// All selects every object.
var All By = byFunc(func(Kind) (string, []any, error) { return indexID, nil, nil })

// ByIDPrefix selects objects whose ID starts with prefix.
func ByIDPrefix(prefix string) By {
	return byFunc(func(Kind) (string, []any, error) { return indexID + "_prefix", []any{prefix}, nil })
}

// ByName selects services, clusters or nodes (by hostname) with this name,
// compared case-insensitively.
func ByName(name string) By {
	return byFunc(func(k Kind) (string, []any, error) {
		if k == KindTask {
			return "", nil, unsupported("name", k)
		}
		return indexName, []any{strings.ToLower(name)}, nil
	})
}

// ByNamePrefix selects services, clusters or nodes whose name starts with
// prefix, compared case-insensitively.
func ByNamePrefix(prefix string) By {
	return byFunc(func(k Kind) (string, []any, error) {
		if k == KindTask {
			return "", nil, unsupported("name prefix", k)
		}
		return indexName + "_prefix", []any{strings.ToLower(prefix)}, nil
	})
}

// ByServiceID selects the tasks of a service.
func ByServiceID(id string) By {
	return byFunc(func(k Kind) (string, []any, error) {
		if k != KindTask {
			return "", nil, unsupported("service", k)
		}
		return indexServiceID, []any{id}, nil
	})
}

// ByNodeID selects the tasks assigned to a node.
func ByNodeID(id string) By {
	return byFunc(func(k Kind) (string, []any, error) {
		if k != KindTask {
			return "", nil, unsupported("node", k)
		}
		return indexNodeID, []any{id}, nil
	})
}

// BySlot selects the tasks of one slot of a replicated service.
func BySlot(serviceID string, slot uint64) By {
	return byFunc(func(k Kind) (string, []any, error) {
		if k != KindTask {
			return "", nil, unsupported("slot", k)
		}
		return indexSlot, []any{serviceID, slot}, nil
	})
}

// ByDesiredState selects tasks with this desired state.
func ByDesiredState(s TaskState) By {
	return byFunc(func(k Kind) (string, []any, error) {
		if k != KindTask {
			return "", nil, unsupported("desired state", k)
		}
		return indexDesiredState, []any{s}, nil
	})
}

// ByRole selects nodes by their current role.
func ByRole(r NodeRole) By {
	return byFunc(func(k Kind) (string, []any, error) {
		if k != KindNode {
			return "", nil, unsupported("role", k)
		}
		return indexRole, []any{string(r)}, nil
	})
}
