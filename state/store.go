package state

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/shoal-dev/shoal/model"
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
	// onApplyPanic is told of each operation Apply skipped (OnApplyPanic).
	onApplyPanic func(err error, stack []byte)

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
	Cluster() *model.Cluster
	GetCluster(id string) *model.Cluster
	GetNode(id string) *model.Node
	GetService(id string) *model.Service
	GetTask(id string) *model.Task
	FindNodes(by By) ([]*model.Node, error)
	FindServices(by By) ([]*model.Service, error)
	FindTasks(by By) ([]*model.Task, error)
	GetNetwork(id string) *model.Network
	GetSecret(id string) *model.Secret
	GetConfig(id string) *model.Config
	FindNetworks(by By) ([]*model.Network, error)
	FindSecrets(by By) ([]*model.Secret, error)
	FindConfigs(by By) ([]*model.Config, error)
	// ForEachTask calls fn for each matching task until fn returns false;
	// it allocates nothing per task.
	ForEachTask(by By, fn func(*model.Task) bool) error
}

type readTx struct {
	db *db
}

func (tx *readTx) Index() uint64 { return tx.db.index }

func (tx *readTx) Cluster() *model.Cluster             { return tx.db.clusters.first() }
func (tx *readTx) GetCluster(id string) *model.Cluster { return tx.db.clusters.get(id) }
func (tx *readTx) GetNode(id string) *model.Node       { return tx.db.nodes.get(id) }
func (tx *readTx) GetService(id string) *model.Service { return tx.db.services.get(id) }
func (tx *readTx) GetTask(id string) *model.Task       { return tx.db.tasks.get(id) }
func (tx *readTx) GetNetwork(id string) *model.Network { return tx.db.networks.get(id) }
func (tx *readTx) GetSecret(id string) *model.Secret   { return tx.db.secrets.get(id) }
func (tx *readTx) GetConfig(id string) *model.Config   { return tx.db.configs.get(id) }

func find[T any](t *table[T], kind model.Kind, by By) ([]*T, error) {
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

func (tx *readTx) FindNodes(by By) ([]*model.Node, error) {
	return find(&tx.db.nodes, model.KindNode, by)
}
func (tx *readTx) FindServices(by By) ([]*model.Service, error) {
	return find(&tx.db.services, model.KindService, by)
}
func (tx *readTx) FindTasks(by By) ([]*model.Task, error) {
	return find(&tx.db.tasks, model.KindTask, by)
}
func (tx *readTx) FindNetworks(by By) ([]*model.Network, error) {
	return find(&tx.db.networks, model.KindNetwork, by)
}
func (tx *readTx) FindSecrets(by By) ([]*model.Secret, error) {
	return find(&tx.db.secrets, model.KindSecret, by)
}
func (tx *readTx) FindConfigs(by By) ([]*model.Config, error) {
	return find(&tx.db.configs, model.KindConfig, by)
}

func (tx *readTx) ForEachTask(by By, fn func(*model.Task) bool) error {
	q, err := by.query(model.KindTask)
	if err != nil {
		return err
	}
	return tx.db.tasks.scan(q, fn)
}

// By selects objects in Find calls.
type By interface {
	query(kind model.Kind) (query, error)
}

type byFunc func(kind model.Kind) (query, error)

func (f byFunc) query(kind model.Kind) (query, error) { return f(kind) }

func unsupported(by string, kind model.Kind) error {
	return fmt.Errorf("%w: cannot select %ss by %s", ErrInvalid, kind, by)
}

// All selects every object.
var All By = byFunc(func(model.Kind) (query, error) { return query{all: true}, nil })

// ByIDPrefix selects objects whose ID starts with prefix.
func ByIDPrefix(prefix string) By {
	return byFunc(func(model.Kind) (query, error) { return query{value: prefix, prefix: true}, nil })
}

// ByName selects clusters, nodes (by hostname), services, networks,
// secrets or configs with this name, compared case-insensitively.
func ByName(name string) By {
	return byFunc(func(k model.Kind) (query, error) {
		if k == model.KindTask {
			return query{}, unsupported("name", k)
		}
		return query{index: indexName, value: strings.ToLower(name)}, nil
	})
}

// ByNamePrefix selects the objects ByName selects whose name starts with
// prefix, compared case-insensitively.
func ByNamePrefix(prefix string) By {
	return byFunc(func(k model.Kind) (query, error) {
		if k == model.KindTask {
			return query{}, unsupported("name prefix", k)
		}
		return query{index: indexName, value: strings.ToLower(prefix), prefix: true}, nil
	})
}

// ByServiceID selects the tasks of a service.
func ByServiceID(id string) By {
	return byFunc(func(k model.Kind) (query, error) {
		if k != model.KindTask {
			return query{}, unsupported("service", k)
		}
		return query{index: indexServiceID, value: id}, nil
	})
}

// ByNodeID selects the tasks assigned to a node.
func ByNodeID(id string) By {
	return byFunc(func(k model.Kind) (query, error) {
		if k != model.KindTask {
			return query{}, unsupported("node", k)
		}
		return query{index: indexNodeID, value: id}, nil
	})
}

// BySlot selects the tasks of one slot of a replicated service. It scans
// the service's tasks.
func BySlot(serviceID string, slot uint64) By {
	return byFunc(func(k model.Kind) (query, error) {
		if k != model.KindTask {
			return query{}, unsupported("slot", k)
		}
		if slot == 0 {
			// Slot 0 means none: tasks of global services have no slot.
			return query{none: true}, nil
		}
		return query{index: indexServiceID, value: serviceID, filter: func(t *model.Task) bool { return t.Slot == slot }}, nil
	})
}

// ByDesiredState selects tasks with this desired state. It scans every
// task.
func ByDesiredState(s model.TaskState) By {
	return byFunc(func(k model.Kind) (query, error) {
		if k != model.KindTask {
			return query{}, unsupported("desired state", k)
		}
		return query{all: true, filter: func(t *model.Task) bool { return t.DesiredState == s }}, nil
	})
}

// ByRole selects nodes by their current role.
func ByRole(r model.NodeRole) By {
	return byFunc(func(k model.Kind) (query, error) {
		if k != model.KindNode {
			return query{}, unsupported("role", k)
		}
		return query{index: indexRole, value: string(r)}, nil
	})
}
