package state

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
)

// Store is the in-memory state of the swarm: tables of persistent B-trees
// whose writes come only from committed Raft log entries (see Apply), with
// a change feed. Reads see consistent snapshots and never block writes.
type Store struct {
	// mu serialises writers, restores and watcher registration, so that a
	// watcher registered in ViewAndWatch sees exactly the changes after its
	// view.
	mu       sync.Mutex
	db       atomic.Pointer[db]
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
	return fn(&readTx{db: s.db.Load()})
}

// ViewAndWatch runs fn on a snapshot and returns a watcher that receives
// every change committed after that snapshot, none missing, none twice.
func (s *Store) ViewAndWatch(fn func(ReadTx) error, opts ...WatchOption) (*Watcher, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fn != nil {
		if err := fn(&readTx{db: s.db.Load()}); err != nil {
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
	db *db
}

func (tx *readTx) Index() uint64 { return tx.db.index }

func (tx *readTx) Cluster() *Cluster             { return tx.db.clusters.first() }
func (tx *readTx) GetCluster(id string) *Cluster { return tx.db.clusters.get(id) }
func (tx *readTx) GetNode(id string) *Node       { return tx.db.nodes.get(id) }
func (tx *readTx) GetService(id string) *Service { return tx.db.services.get(id) }
func (tx *readTx) GetTask(id string) *Task       { return tx.db.tasks.get(id) }

func find[T any](t *table[T], kind Kind, by By) ([]*T, error) {
	q, err := by.query(kind)
	if err != nil {
		return nil, err
	}
	var out []*T
	err = t.scan(q, func(o *T) bool {
		out = append(out, o)
		return true
	})
	return out, err
}

func (tx *readTx) FindNodes(by By) ([]*Node, error) { return find(&tx.db.nodes, KindNode, by) }
func (tx *readTx) FindServices(by By) ([]*Service, error) {
	return find(&tx.db.services, KindService, by)
}
func (tx *readTx) FindTasks(by By) ([]*Task, error) { return find(&tx.db.tasks, KindTask, by) }

func (tx *readTx) ForEachTask(by By, fn func(*Task) bool) error {
	q, err := by.query(KindTask)
	if err != nil {
		return err
	}
	return tx.db.tasks.scan(q, fn)
}

// By selects objects in Find calls.
type By interface {
	query(kind Kind) (query, error)
}

type byFunc func(kind Kind) (query, error)

func (f byFunc) query(kind Kind) (query, error) { return f(kind) }

func unsupported(by string, kind Kind) error {
	return fmt.Errorf("%w: cannot select %ss by %s", ErrInvalid, kind, by)
}

// All selects every object.
var All By = byFunc(func(Kind) (query, error) { return query{all: true}, nil })

// ByIDPrefix selects objects whose ID starts with prefix.
func ByIDPrefix(prefix string) By {
	return byFunc(func(Kind) (query, error) { return query{value: prefix, prefix: true}, nil })
}

// ByName selects services, clusters or nodes (by hostname) with this name,
// compared case-insensitively.
func ByName(name string) By {
	return byFunc(func(k Kind) (query, error) {
		if k == KindTask {
			return query{}, unsupported("name", k)
		}
		return query{index: indexName, value: strings.ToLower(name)}, nil
	})
}

// ByNamePrefix selects services, clusters or nodes whose name starts with
// prefix, compared case-insensitively.
func ByNamePrefix(prefix string) By {
	return byFunc(func(k Kind) (query, error) {
		if k == KindTask {
			return query{}, unsupported("name prefix", k)
		}
		return query{index: indexName, value: strings.ToLower(prefix), prefix: true}, nil
	})
}

// ByServiceID selects the tasks of a service.
func ByServiceID(id string) By {
	return byFunc(func(k Kind) (query, error) {
		if k != KindTask {
			return query{}, unsupported("service", k)
		}
		return query{index: indexServiceID, value: id}, nil
	})
}

// ByNodeID selects the tasks assigned to a node.
func ByNodeID(id string) By {
	return byFunc(func(k Kind) (query, error) {
		if k != KindTask {
			return query{}, unsupported("node", k)
		}
		return query{index: indexNodeID, value: id}, nil
	})
}

// BySlot selects the tasks of one slot of a replicated service. It scans
// the service's tasks.
func BySlot(serviceID string, slot uint64) By {
	return byFunc(func(k Kind) (query, error) {
		if k != KindTask {
			return query{}, unsupported("slot", k)
		}
		if slot == 0 {
			// Slot 0 means none: tasks of global services have no slot.
			return query{none: true}, nil
		}
		return query{index: indexServiceID, value: serviceID, filter: func(t *Task) bool { return t.Slot == slot }}, nil
	})
}

// ByDesiredState selects tasks with this desired state. It scans every
// task.
func ByDesiredState(s TaskState) By {
	return byFunc(func(k Kind) (query, error) {
		if k != KindTask {
			return query{}, unsupported("desired state", k)
		}
		return query{all: true, filter: func(t *Task) bool { return t.DesiredState == s }}, nil
	})
}

// ByRole selects nodes by their current role.
func ByRole(r NodeRole) By {
	return byFunc(func(k Kind) (query, error) {
		if k != KindNode {
			return query{}, unsupported("role", k)
		}
		return query{index: indexRole, value: string(r)}, nil
	})
}
