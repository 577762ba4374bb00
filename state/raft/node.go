package raft

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	hraft "github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/shoal-dev/shoal/state"
)

// Node is one manager's member of the Raft group. It owns the Raft log on
// disk and applies committed entries to a state.Store. Writes may be made on
// any node: a follower forwards them to the leader. Reads through
// ReadBarrier are linearizable on any node.
type Node struct {
	cfg    Config
	log    *slog.Logger
	store  *state.Store
	raft   *hraft.Raft
	trans  hraft.Transport
	fwd    Forwarder
	closer []func() error

	notifyCh   chan bool
	shutdownCh chan struct{}
	shutdown   sync.Once
	wg         sync.WaitGroup

	// ready is set once this node leads and has applied every entry
	// committed before its term (a no-op of its own term is applied).
	ready atomic.Bool
	// term guards the leader hooks of the current leadership.
	hooksMu sync.Mutex
	hooks   []func(context.Context)
	termWG  sync.WaitGroup
	cancel  context.CancelFunc

	reach *reachability
}

// HasState tells whether dataDir already holds Raft state.
func HasState(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, "raft.db"))
	return err == nil
}

func openStores(cfg Config) (hraft.LogStore, hraft.StableStore, hraft.SnapshotStore, func() error, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("raft: creating data dir: %w", err)
	}
	bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.DataDir, "raft.db")})
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("raft: opening log store: %w", err)
	}
	snaps, err := hraft.NewFileSnapshotStoreWithLogger(cfg.DataDir, cfg.RetainSnapshots, newHCLogger(cfg.Logger, "snapshots"))
	if err != nil {
		bolt.Close()
		return nil, nil, nil, nil, fmt.Errorf("raft: opening snapshot store: %w", err)
	}
	if cfg.DataKey == nil {
		return bolt, bolt, snaps, bolt.Close, nil
	}
	logs, err := newEncryptedLogStore(bolt, cfg.DataKey)
	if err != nil {
		bolt.Close()
		return nil, nil, nil, nil, err
	}
	return logs, bolt, newEncryptedSnapshotStore(snaps, cfg.DataKey), bolt.Close, nil
}

// logCacheEntries is how many of the newest log entries a node keeps in
// memory. The leader reads every entry it replicates back from its log
// store; without the cache each one is a bbolt read and, with a data key,
// a decryption. 512 entries are half a second of writes at the highest
// rate measured (about 1,000 writes/s), enough for a follower that keeps
// up, and a few MB of memory at most; a follower further behind reads
// from disk as before.
const logCacheEntries = 512

// cachedLogStore keeps the newest entries of logs in memory. It wraps the
// encrypted store, not the other way round, so it holds plaintext entries
// and a hit costs neither a read nor a decryption.
func cachedLogStore(logs hraft.LogStore) hraft.LogStore {
	c, err := hraft.NewLogCache(logCacheEntries, logs)
	if err != nil {
		panic(err) // only for a capacity <= 0
	}
	return c
}

func (c *Config) raftConfig() *hraft.Config {
	rc := hraft.DefaultConfig()
	rc.LocalID = hraft.ServerID(c.NodeID)
	rc.HeartbeatTimeout = c.HeartbeatTimeout
	rc.ElectionTimeout = c.ElectionTimeout
	rc.LeaderLeaseTimeout = c.LeaderLeaseTimeout
	rc.CommitTimeout = c.CommitTimeout
	if c.MaxAppendEntries > 0 {
		rc.MaxAppendEntries = c.MaxAppendEntries
	}
	rc.BatchApplyCh = true
	rc.SnapshotThreshold = c.SnapshotThreshold
	rc.SnapshotInterval = c.SnapshotInterval
	rc.TrailingLogs = c.TrailingLogs
	rc.Logger = newHCLogger(c.Logger, "raft")
	return rc
}

// New opens the node's Raft state in cfg.DataDir and starts Raft. A node
// with no state stays a follower with no peers until Bootstrap is called or
// a leader adds it.
func New(cfg Config, store *state.Store, trans hraft.Transport, fwd Forwarder) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logs, stable, snaps, closeFn, err := openStores(cfg)
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "raft"),
		store:      store,
		trans:      trans,
		fwd:        fwd,
		closer:     []func() error{closeFn},
		notifyCh:   make(chan bool, 16),
		shutdownCh: make(chan struct{}),
	}
	rc := cfg.raftConfig()
	rc.NotifyCh = n.notifyCh
	r, err := hraft.NewRaft(rc, &fsm{store: store}, cachedLogStore(logs), stable, snaps, trans)
	if err != nil {
		closeFn()
		return nil, fmt.Errorf("raft: starting: %w", err)
	}
	n.raft = r
	n.reach = newReachability(n)
	n.wg.Add(2)
	go n.runLeadership()
	go n.reach.run(n.shutdownCh, &n.wg)
	return n, nil
}

// ForceNewCluster rewrites the Raft configuration in cfg.DataDir so that
// this node is the only voter, keeping all its state. It recovers a cluster
// that lost its quorum for good. Run it before New, on one node only.
func ForceNewCluster(cfg Config, trans hraft.Transport) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	logs, stable, snaps, closeFn, err := openStores(cfg)
	if err != nil {
		return err
	}
	defer closeFn()
	conf := hraft.Configuration{Servers: []hraft.Server{{
		Suffrage: hraft.Voter, ID: hraft.ServerID(cfg.NodeID), Address: hraft.ServerAddress(cfg.Addr),
	}}}
	if err := hraft.RecoverCluster(cfg.raftConfig(), &fsm{store: state.NewStore()}, logs, stable, snaps, trans, conf); err != nil {
		return fmt.Errorf("raft: forcing a new cluster: %w", err)
	}
	return nil
}

// Bootstrap starts a new cluster whose voters are this node and peers (none
// for `manager init`; tests bootstrap several at once).
func (n *Node) Bootstrap(peers ...Member) error {
	conf := hraft.Configuration{Servers: []hraft.Server{{
		Suffrage: hraft.Voter, ID: hraft.ServerID(n.cfg.NodeID), Address: hraft.ServerAddress(n.cfg.Addr),
	}}}
	for _, p := range peers {
		conf.Servers = append(conf.Servers, hraft.Server{Suffrage: hraft.Voter, ID: hraft.ServerID(p.ID), Address: hraft.ServerAddress(p.Addr)})
	}
	if err := n.raft.BootstrapCluster(conf).Error(); err != nil {
		return fmt.Errorf("raft: bootstrap: %w", err)
	}
	return nil
}

// OnLeader registers fn to run, in its own goroutine, each time this node
// becomes a ready leader. fn's context is cancelled when leadership is lost;
// fn must return promptly then. A new term's hooks start only after the
// previous term's have returned.
func (n *Node) OnLeader(fn func(ctx context.Context)) {
	n.hooksMu.Lock()
	n.hooks = append(n.hooks, fn)
	n.hooksMu.Unlock()
}

func (n *Node) runLeadership() {
	defer n.wg.Done()
	for {
		select {
		case leader := <-n.notifyCh:
			if leader {
				n.startTerm()
			} else {
				n.endTerm()
			}
		case <-n.shutdownCh:
			n.endTerm()
			return
		}
	}
}

func (n *Node) startTerm() {
	n.endTerm()
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	term := n.raft.CurrentTerm()
	n.log.Info("became leader", "term", term)
	n.termWG.Add(1)
	go func() {
		defer n.termWG.Done()
		// Commit an entry of our own term: once it is applied, every entry
		// committed by earlier leaders is applied too, and the store index
		// covers every acknowledged write.
		for {
			data, _ := state.NewCommand(state.Op{Type: state.OpNoop}).Encode()
			_, err := n.applyLocal(ctx, data)
			if err == nil {
				break
			}
			if ctx.Err() != nil || errors.Is(err, ErrNotLeader) || errors.Is(err, ErrShutdown) || errors.Is(err, errLeadershipLost) {
				return
			}
			n.log.Warn("leader no-op failed; retrying", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		if ctx.Err() != nil {
			return
		}
		n.ready.Store(true)
		n.log.Info("leader ready", "term", term, "index", n.store.Index())
		n.hooksMu.Lock()
		hooks := append([]func(context.Context){}, n.hooks...)
		n.hooksMu.Unlock()
		for _, h := range hooks {
			n.termWG.Add(1)
			go func() {
				defer n.termWG.Done()
				h(ctx)
			}()
		}
	}()
}

func (n *Node) endTerm() {
	if n.cancel == nil {
		return
	}
	n.ready.Store(false)
	n.cancel()
	n.cancel = nil
	n.termWG.Wait()
	n.log.Info("leadership ended")
}

// IsLeader tells whether this node is the leader.
func (n *Node) IsLeader() bool { return n.raft.State() == hraft.Leader }

// Ready tells whether this node is a leader that has applied every entry
// of earlier terms.
func (n *Node) Ready() bool { return n.ready.Load() && n.IsLeader() }

// Leader returns the leader's ID and address as this node knows them, or
// empty strings.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// Store returns the node's store.
func (n *Node) Store() *state.Store { return n.store }

// ID returns the node's ID.
func (n *Node) ID() string { return n.cfg.NodeID }

// Addr returns the node's advertised address.
func (n *Node) Addr() string { return n.cfg.Addr }

// Propose commits cmd through the leader and returns the results of its
// operations. It fails with a QuorumError when no leader can be reached
// within LeaderWaitTimeout, and with ErrUnknownOutcome when the leader lost
// leadership after accepting the write.
func (n *Node) Propose(ctx context.Context, cmd *state.Command) (state.Results, error) {
	data, err := cmd.Encode()
	if err != nil {
		return nil, fmt.Errorf("raft: encoding command: %w", err)
	}
	return n.ProposeEncoded(ctx, data)
}

// ProposeEncoded is Propose for an already encoded command.
func (n *Node) ProposeEncoded(ctx context.Context, data []byte) (state.Results, error) {
	var waitStart time.Time
	for {
		if err := n.alive(ctx); err != nil {
			return nil, err
		}
		if n.IsLeader() {
			res, err := n.applyLocal(ctx, data)
			if errors.Is(err, ErrNotLeader) {
				continue
			}
			return res, n.leadershipLost(err)
		}
		_, addr := n.Leader()
		if addr == "" || addr == n.cfg.Addr {
			if err := n.waitForLeader(ctx, &waitStart); err != nil {
				return nil, err
			}
			continue
		}
		res, err := n.fwd.Apply(ctx, addr, data)
		if errors.Is(err, ErrNotSent) || errors.Is(err, ErrNotLeader) {
			if err := n.waitForLeader(ctx, &waitStart); err != nil {
				return nil, err
			}
			continue
		}
		return res, err
	}
}

// ApplyLocal commits an encoded command on this node, which must be the
// leader. It serves writes forwarded by other managers.
func (n *Node) ApplyLocal(ctx context.Context, data []byte) (state.Results, error) {
	if err := n.alive(ctx); err != nil {
		return nil, err
	}
	if !n.IsLeader() {
		return nil, ErrNotLeader
	}
	res, err := n.applyLocal(ctx, data)
	return res, n.leadershipLost(err)
}

// errLeadershipLost is applyLocal's report that the write was appended but
// leadership was lost before it committed.
var errLeadershipLost = errors.New("raft: leadership lost")

// leadershipLost turns errLeadershipLost into the error a client sees: a
// QuorumError if no new leader appears, ErrUnknownOutcome otherwise.
func (n *Node) leadershipLost(err error) error {
	if !errors.Is(err, errLeadershipLost) {
		return err
	}
	if n.quorumLost() {
		r, t := n.countReachable()
		return &QuorumError{Reachable: r, Total: t, Pending: true}
	}
	return ErrUnknownOutcome
}

func (n *Node) applyLocal(ctx context.Context, data []byte) (state.Results, error) {
	f := n.raft.Apply(data, n.cfg.LeaderWaitTimeout)
	// Raft may never answer a future it enqueued when it shuts down
	// (hashicorp/raft#498), so the wait also ends with the node or the
	// caller; the entry may have been committed then: the outcome is
	// unknown, and must not be retried as if it were not sent.
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	var err error
	select {
	case err = <-done:
	case <-n.shutdownCh:
		return nil, fmt.Errorf("%w: the manager shut down", ErrUnknownOutcome)
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrUnknownOutcome, ctx.Err())
	}
	if err != nil {
		switch {
		case errors.Is(err, hraft.ErrNotLeader), errors.Is(err, hraft.ErrEnqueueTimeout),
			errors.Is(err, hraft.ErrLeadershipTransferInProgress):
			// Refused before it was appended: another leader may take it.
			return nil, ErrNotLeader
		case errors.Is(err, hraft.ErrLeadershipLost):
			return nil, errLeadershipLost
		case errors.Is(err, hraft.ErrRaftShutdown):
			return nil, fmt.Errorf("%w: the manager shut down", ErrUnknownOutcome)
		}
		return nil, fmt.Errorf("raft: apply: %w", err)
	}
	switch r := f.Response().(type) {
	case state.Results:
		return r, nil
	case error:
		return nil, r
	}
	return nil, fmt.Errorf("raft: unexpected FSM response %T", f.Response())
}

// quorumLost waits briefly for a new leader after a lost leadership and
// tells whether none appeared.
func (n *Node) quorumLost() bool {
	deadline := time.Now().Add(n.cfg.LeaderWaitTimeout)
	for time.Now().Before(deadline) {
		if id, _ := n.Leader(); id != "" {
			return false
		}
		select {
		case <-n.shutdownCh:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
}

func (n *Node) alive(ctx context.Context) error {
	select {
	case <-n.shutdownCh:
		return ErrShutdown
	default:
	}
	return ctx.Err()
}

// waitForLeader sleeps a little while no leader is known; after
// LeaderWaitTimeout without one it returns a QuorumError.
func (n *Node) waitForLeader(ctx context.Context, start *time.Time) error {
	if start.IsZero() {
		*start = time.Now()
	}
	if time.Since(*start) > n.cfg.LeaderWaitTimeout {
		r, t := n.countReachable()
		return &QuorumError{Reachable: r, Total: t}
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-n.shutdownCh:
		return ErrShutdown
	case <-time.After(10 * time.Millisecond):
		return nil
	}
}

// ReadBarrier returns once the local store reflects every write
// acknowledged before the call, so that a read made after it is
// linearizable. On a follower it asks the leader for its read index and
// waits until the local store has applied it.
func (n *Node) ReadBarrier(ctx context.Context) error {
	var waitStart time.Time
	for {
		if err := n.alive(ctx); err != nil {
			return err
		}
		if n.IsLeader() {
			idx, err := n.ReadIndexLocal(ctx)
			if errors.Is(err, ErrNotLeader) {
				if err := n.waitForLeader(ctx, &waitStart); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			return n.store.WaitForIndex(ctx, idx)
		}
		_, addr := n.Leader()
		if addr == "" || addr == n.cfg.Addr {
			if err := n.waitForLeader(ctx, &waitStart); err != nil {
				return err
			}
			continue
		}
		idx, err := n.fwd.ReadIndex(ctx, addr)
		if errors.Is(err, ErrNotSent) || errors.Is(err, ErrNotLeader) {
			if err := n.waitForLeader(ctx, &waitStart); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		return n.store.WaitForIndex(ctx, idx)
	}
}

// ReadIndexLocal returns an index that covers every acknowledged write. This
// node must be the leader: it confirms with a quorum that it still is.
func (n *Node) ReadIndexLocal(ctx context.Context) (uint64, error) {
	if !n.IsLeader() {
		return 0, ErrNotLeader
	}
	// A new leader first applies a no-op of its own term.
	for !n.ready.Load() {
		if !n.IsLeader() {
			return 0, ErrNotLeader
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-n.shutdownCh:
			return 0, ErrShutdown
		case <-time.After(5 * time.Millisecond):
		}
	}
	// The commit index covers every acknowledged write, and more: a
	// committed write may already be visible through a follower that
	// applied it before this leader did, so a read must wait for it too
	// (the leader's applied index would not do; the robustness suite found
	// a read missing a write that an earlier read had returned). Once the
	// leader is ready, the committed entry at that index is one the store
	// applies (a command or a configuration; Raft's own no-op opens the
	// term, before this leader's no-op command), so every reader's store
	// reaches it.
	idx := n.raft.CommitIndex()
	if err := n.raft.VerifyLeader().Error(); err != nil {
		return 0, ErrNotLeader
	}
	return idx, nil
}

// AddVoter adds a manager to the Raft configuration, through the leader.
func (n *Node) AddVoter(ctx context.Context, id, addr string) error {
	return n.changeMembership(ctx, MembershipChange{ID: id, Addr: addr})
}

// RemoveServer removes a manager from the Raft configuration, through the
// leader.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	return n.changeMembership(ctx, MembershipChange{ID: id, Remove: true})
}

func (n *Node) changeMembership(ctx context.Context, req MembershipChange) error {
	var waitStart time.Time
	for {
		if err := n.alive(ctx); err != nil {
			return err
		}
		if n.IsLeader() {
			err := n.ChangeMembershipLocal(ctx, req)
			if errors.Is(err, ErrNotLeader) {
				continue
			}
			return err
		}
		_, addr := n.Leader()
		if addr == "" || addr == n.cfg.Addr {
			if err := n.waitForLeader(ctx, &waitStart); err != nil {
				return err
			}
			continue
		}
		err := n.fwd.ChangeMembership(ctx, addr, req)
		if errors.Is(err, ErrNotSent) || errors.Is(err, ErrNotLeader) {
			if err := n.waitForLeader(ctx, &waitStart); err != nil {
				return err
			}
			continue
		}
		return err
	}
}

// ChangeMembershipLocal applies a membership change on the leader.
func (n *Node) ChangeMembershipLocal(ctx context.Context, req MembershipChange) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	var f hraft.IndexFuture
	if req.Remove {
		f = n.raft.RemoveServer(hraft.ServerID(req.ID), 0, n.cfg.LeaderWaitTimeout)
	} else {
		f = n.raft.AddVoter(hraft.ServerID(req.ID), hraft.ServerAddress(req.Addr), 0, n.cfg.LeaderWaitTimeout)
	}
	if err := f.Error(); err != nil {
		switch {
		case errors.Is(err, hraft.ErrNotLeader), errors.Is(err, hraft.ErrEnqueueTimeout),
			errors.Is(err, hraft.ErrLeadershipTransferInProgress):
			return ErrNotLeader
		case errors.Is(err, hraft.ErrLeadershipLost), errors.Is(err, hraft.ErrRaftShutdown):
			return ErrUnknownOutcome
		}
		return fmt.Errorf("raft: membership change: %w", err)
	}
	return nil
}

// Member is a server in the Raft configuration.
type Member struct {
	ID    string
	Addr  string
	Voter bool
}

// Members returns the current Raft configuration.
func (n *Node) Members() ([]Member, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("raft: reading configuration: %w", err)
	}
	var out []Member
	for _, s := range f.Configuration().Servers {
		out = append(out, Member{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == hraft.Voter})
	}
	return out, nil
}

// Reachable tells whether the manager with this ID answered recently. This
// node is always reachable.
func (n *Node) Reachable(id string) bool { return n.reach.reachable(id) }

// countReachable probes every member now and counts those that answer,
// this node included.
func (n *Node) countReachable() (reachable, total int) {
	members, err := n.Members()
	if err != nil {
		return 1, 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range members {
		if !m.Voter {
			continue
		}
		total++
		if m.ID == n.cfg.NodeID {
			reachable++
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if n.fwd.Ping(ctx, m.Addr) == nil {
				mu.Lock()
				reachable++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if total == 0 {
		return 1, 1
	}
	return reachable, total
}

// Stats describes the node's Raft state.
type Stats struct {
	State        string
	Term         uint64
	LastIndex    uint64
	CommitIndex  uint64
	AppliedIndex uint64
	StoreIndex   uint64
	LeaderID     string
	LastContact  time.Time
}

// Stats returns the node's Raft state.
func (n *Node) Stats() Stats {
	id, _ := n.Leader()
	return Stats{
		State:        n.raft.State().String(),
		Term:         n.raft.CurrentTerm(),
		LastIndex:    n.raft.LastIndex(),
		CommitIndex:  n.raft.CommitIndex(),
		AppliedIndex: n.raft.AppliedIndex(),
		StoreIndex:   n.store.Index(),
		LeaderID:     id,
		LastContact:  n.raft.LastContact(),
	}
}

// Snapshot takes a Raft snapshot now.
func (n *Node) Snapshot() error {
	if err := n.raft.Snapshot().Error(); err != nil && !errors.Is(err, hraft.ErrNothingNewToSnapshot) {
		return fmt.Errorf("raft: snapshot: %w", err)
	}
	return nil
}

// TransferLeadership hands leadership to another voter.
func (n *Node) TransferLeadership() error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	if err := n.raft.LeadershipTransfer().Error(); err != nil {
		return fmt.Errorf("raft: leadership transfer: %w", err)
	}
	return nil
}

// Shutdown stops the node. A leader with other voters first hands
// leadership over, so the cluster does not wait for an election timeout.
func (n *Node) Shutdown() error {
	var err error
	n.shutdown.Do(func() {
		if n.IsLeader() && n.hasOtherVoters() {
			done := make(chan error, 1)
			go func() { done <- n.raft.LeadershipTransfer().Error() }()
			select {
			case e := <-done:
				if e != nil {
					n.log.Warn("leadership transfer before shutdown failed", "err", e)
				} else {
					n.log.Info("handed leadership over before shutdown")
				}
			case <-time.After(n.cfg.ShutdownTransferTimeout):
				n.log.Warn("leadership transfer before shutdown timed out")
			}
		}
		close(n.shutdownCh)
		err = n.raft.Shutdown().Error()
		n.wg.Wait()
		if c, ok := n.trans.(interface{ Close() error }); ok {
			_ = c.Close()
		}
		for _, c := range n.closer {
			if e := c(); e != nil && err == nil {
				err = e
			}
		}
	})
	return err
}

func (n *Node) hasOtherVoters() bool {
	members, err := n.Members()
	if err != nil {
		return false
	}
	for _, m := range members {
		if m.Voter && m.ID != n.cfg.NodeID {
			return true
		}
	}
	return false
}

// reachability probes the other managers in the background, for
// ManagerStatus.Reachability.
type reachability struct {
	n    *Node
	mu   sync.Mutex
	seen map[string]time.Time
}

const (
	probeInterval = time.Second
	probeTimeout  = 500 * time.Millisecond
	reachableFor  = 3 * time.Second
)

func newReachability(n *Node) *reachability {
	return &reachability{n: n, seen: map[string]time.Time{}}
}

func (r *reachability) run(stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		members, err := r.n.Members()
		if err != nil {
			continue
		}
		var pwg sync.WaitGroup
		for _, m := range members {
			if m.ID == r.n.cfg.NodeID {
				continue
			}
			pwg.Add(1)
			go func() {
				defer pwg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
				defer cancel()
				if r.n.fwd.Ping(ctx, m.Addr) == nil {
					r.mu.Lock()
					r.seen[m.ID] = time.Now()
					r.mu.Unlock()
				}
			}()
		}
		pwg.Wait()
	}
}

func (r *reachability) reachable(id string) bool {
	if id == r.n.cfg.NodeID {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return time.Since(r.seen[id]) < reachableFor
}
