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
	bbolt "go.etcd.io/bbolt"

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

	// readyTerm is the term in which this node, as its leader, applied a
	// no-op of its own, and with it every entry committed before that
	// term; 0 if none. It is a term, not a flag: a flag set by a term's
	// no-op goroutine just after that term ended (the goroutine checks its
	// context, then sets the flag) would stay set into a later term of
	// this node, whose commit index may lag writes another leader
	// committed in between, and a read index taken from it would be stale.
	readyTerm atomic.Uint64
	// readIdx shares read index rounds: key "" for this node as the
	// leader, a leader's address for the rounds forwarded to it.
	readIdx coalescer[uint64]
	// term guards the leader hooks of the current leadership.
	hooksMu sync.Mutex
	hooks   []func(context.Context)
	termWG  sync.WaitGroup
	cancel  context.CancelFunc

	reach *reachability
	// leaderChanged is closed, and replaced, each time Raft reports a
	// change of the leader this node knows; forwarded calls watch it.
	leaderMu      sync.Mutex
	leaderChanged chan struct{}

	// applied is the applied index last recorded in appliedFile.
	markerMu      sync.Mutex
	applied       appliedMarker
	markerFailing bool
}

// HasState tells whether dataDir already holds Raft state.
func HasState(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, "raft.db"))
	return err == nil
}

// openStores opens the log, stable and snapshot stores in cfg.DataDir,
// defensively: the bbolt file is checked before it is opened, a panic
// while opening or reading becomes an error, and what the stores hold is
// verified against the applied index the node recorded (verifyState). A
// damaged store gives a DamagedError, never a panic nor an empty start.
// stores are a node's opened stores and the applied index it recorded.
type stores struct {
	logs    hraft.LogStore
	stable  hraft.StableStore
	snaps   hraft.SnapshotStore
	close   func() error
	applied appliedMarker
}

func openStores(cfg Config) (*stores, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("raft: creating data dir: %w", err)
	}
	had, err := readMarker(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	dbPath := filepath.Join(cfg.DataDir, logFile)
	if err := checkLogFile(dbPath, had); err != nil {
		return nil, err
	}
	var bolt *raftboltdb.BoltStore
	err = safely(dbPath, func() error {
		var err error
		bolt, err = raftboltdb.New(raftboltdb.Options{Path: dbPath, BoltOptions: &bbolt.Options{Timeout: boltOpenTimeout}})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("raft: opening log store: %w", err)
	}
	snaps, err := hraft.NewFileSnapshotStoreWithLogger(cfg.DataDir, cfg.RetainSnapshots, newHCLogger(cfg.Logger, "snapshots"))
	if err != nil {
		bolt.Close()
		return nil, fmt.Errorf("raft: opening snapshot store: %w", err)
	}
	var (
		logs      hraft.LogStore      = bolt
		snapStore hraft.SnapshotStore = snaps
	)
	if cfg.DataKey != nil {
		enc, err := newEncryptedLogStore(bolt, cfg.DataKey)
		if err != nil {
			bolt.Close()
			return nil, err
		}
		logs, snapStore = enc, newEncryptedSnapshotStore(snaps, cfg.DataKey)
	}
	start := time.Now()
	if err := safely(dbPath, func() error { return verifyState(cfg.DataDir, logs, snapStore, had) }); err != nil {
		bolt.Close()
		return nil, err
	}
	cfg.Logger.Debug("raft state verified", "component", "raft", "dir", cfg.DataDir, "took", time.Since(start))
	return &stores{logs: logs, stable: bolt, snaps: snapStore, close: bolt.Close, applied: had}, nil
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

// errLocalStore marks a failure of this node's log store to write entries
// (a full disk, an I/O error). On a leader, hashicorp/raft then neither
// appended nor replicated them and steps down (dispatchLogs): the write
// was not applied, and another leader may take it.
var errLocalStore = errors.New("raft: writing the log to this node's disk failed")

// storeErrors marks the write errors of a log store with errLocalStore.
// It wraps the cache: hraft.LogCache formats its store's errors with %q,
// which would lose the mark.
// It also tells health how each write went.
type storeErrors struct {
	hraft.LogStore
	health *diskHealth
}

var (
	_ hraft.LogStore          = storeErrors{}
	_ hraft.MonotonicLogStore = storeErrors{}
)

func (s storeErrors) StoreLog(l *hraft.Log) error {
	err := s.LogStore.StoreLog(l)
	s.health.stored(err)
	if err != nil {
		return fmt.Errorf("%w: %w", errLocalStore, err)
	}
	return nil
}

func (s storeErrors) StoreLogs(logs []*hraft.Log) error {
	err := s.LogStore.StoreLogs(logs)
	s.health.stored(err)
	if err != nil {
		return fmt.Errorf("%w: %w", errLocalStore, err)
	}
	return nil
}

// IsMonotonic passes the wrapped store's answer on.
func (s storeErrors) IsMonotonic() bool {
	m, ok := s.LogStore.(hraft.MonotonicLogStore)
	return ok && m.IsMonotonic()
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
	st, err := openStores(cfg)
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "raft"),
		store:      store,
		trans:      trans,
		fwd:        fwd,
		closer:     []func() error{st.close},
		notifyCh:   make(chan bool, 16),
		shutdownCh: make(chan struct{}),
		applied:    st.applied,

		leaderChanged: make(chan struct{}),
	}
	store.OnApplyPanic(func(err error, stack []byte) {
		n.log.Error("a committed operation failed while applying and was skipped, as on every manager", "err", err, "stack", string(stack))
	})
	rc := cfg.raftConfig()
	rc.NotifyCh = n.notifyCh
	logs := cachedLogStore(st.logs)
	if cfg.wrapLogs != nil {
		logs = cfg.wrapLogs(logs)
	}
	health := newDiskHealth(cfg.DataDir)
	r, err := hraft.NewRaft(rc, &fsm{store: store}, storeErrors{logs, health}, st.stable, st.snaps, gateElections(trans, health))
	if err != nil {
		st.close()
		return nil, fmt.Errorf("raft: starting: %w", err)
	}
	n.raft = r
	n.reach = newReachability(n)
	// Buffered and non-blocking, so Raft never waits for it: an
	// observation dropped because the buffer is full is followed by one
	// still in it, and watchers read the leader afresh on each.
	obs := make(chan hraft.Observation, 16)
	observer := hraft.NewObserver(obs, false, func(o *hraft.Observation) bool {
		_, ok := o.Data.(hraft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(observer)
	n.wg.Add(4)
	go n.runLeadership()
	go n.reach.run(n.shutdownCh, &n.wg)
	go n.watchLeader(obs, observer)
	go n.recordApplied()
	return n, nil
}

// watchLeader wakes the forwarded calls in flight each time the leader
// this node knows changes.
func (n *Node) watchLeader(obs <-chan hraft.Observation, observer *hraft.Observer) {
	defer n.wg.Done()
	defer n.raft.DeregisterObserver(observer)
	for {
		select {
		case <-obs:
			n.leaderMu.Lock()
			close(n.leaderChanged)
			n.leaderChanged = make(chan struct{})
			n.leaderMu.Unlock()
		case <-n.shutdownCh:
			return
		}
	}
}

// leaderChanges returns a channel closed at the next change of the leader
// this node knows.
func (n *Node) leaderChanges() <-chan struct{} {
	n.leaderMu.Lock()
	defer n.leaderMu.Unlock()
	return n.leaderChanged
}

// forwardGrace is how long a forwarded call may still be answered by a
// leader this node no longer follows before it is abandoned.
const forwardGrace = 250 * time.Millisecond

// errLeaderChanged is why a forwarded call is abandoned: this node no
// longer follows the leader it sent the call to.
var errLeaderChanged = errors.New("raft: the leader changed")

// forward runs call, a request forwarded to the leader at addr, with a
// context that also ends as soon as this node stops following addr: it
// learns of a newer leader, or it drops addr after a heartbeat timeout
// without hearing from it (Config.HeartbeatTimeout, randomised 1x to 2x,
// which is at least the leader's lease), and forwardGrace more for an
// answer already on its way. A leader frozen by SIGSTOP, a VM
// pause or a stuck disk keeps its connections open and answers nothing:
// without this, a call would wait for its caller's deadline. It also ends
// when the node shuts down. It reports whether the loss of the leader (or
// the shutdown) ended the call: the request may or may not have reached
// the leader then.
func (n *Node) forward(ctx context.Context, addr string, call func(context.Context) error) (abandoned bool, err error) {
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	go func() {
		for {
			// Take the channel before reading the leader: a change after
			// the read closes it.
			changed := n.leaderChanges()
			if _, cur := n.Leader(); cur != addr {
				// A leader that hands its leadership over (a demotion,
				// a shutdown) answers the calls it has already applied
				// a moment later: wait that moment, or a write that
				// succeeded would be reported as of unknown outcome.
				select {
				case <-done:
				case <-n.shutdownCh:
					cancel(ErrShutdown)
				case <-time.After(forwardGrace):
					cancel(errLeaderChanged)
				}
				return
			}
			select {
			case <-changed:
			case <-n.shutdownCh:
				cancel(ErrShutdown)
				return
			case <-done:
				return
			}
		}
	}()
	err = call(fctx)
	close(done)
	if err == nil || ctx.Err() != nil {
		return false, err
	}
	cause := context.Cause(fctx)
	return errors.Is(cause, errLeaderChanged) || errors.Is(cause, ErrShutdown), err
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
	st, err := openStores(cfg)
	if err != nil {
		return err
	}
	defer st.close()
	conf := hraft.Configuration{Servers: []hraft.Server{{
		Suffrage: hraft.Voter, ID: hraft.ServerID(cfg.NodeID), Address: hraft.ServerAddress(cfg.Addr),
	}}}
	if err := hraft.RecoverCluster(cfg.raftConfig(), &fsm{store: state.NewStore()}, st.logs, st.stable, st.snaps, trans, conf); err != nil {
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
		n.readyTerm.Store(term)
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
	n.readyTerm.Store(0)
	n.cancel()
	n.cancel = nil
	n.termWG.Wait()
	n.log.Info("leadership ended")
}

// IsLeader tells whether this node is the leader.
func (n *Node) IsLeader() bool { return n.raft.State() == hraft.Leader }

// Ready tells whether this node is a leader that has applied every entry
// of earlier terms.
func (n *Node) Ready() bool {
	t := n.readyTerm.Load()
	return t != 0 && n.IsLeader() && n.raft.CurrentTerm() == t
}

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
// leadership after accepting the write, or this node stopped following the
// leader it forwarded the write to (it learnt of a newer one, or heard
// nothing for a heartbeat timeout) before that leader answered. A command
// that is safe to send twice (state.Command.SafeToRetry) is sent once more
// through the new leader instead, and ErrUnknownOutcome remains only if
// that retry does not apply cleanly.
func (n *Node) Propose(ctx context.Context, cmd *state.Command) (state.Results, error) {
	data, err := cmd.Encode()
	if err != nil {
		return nil, fmt.Errorf("raft: encoding command: %w", err)
	}
	return n.propose(ctx, data, cmd.SafeToRetry)
}

// ProposeEncoded is Propose for an already encoded command.
func (n *Node) ProposeEncoded(ctx context.Context, data []byte) (state.Results, error) {
	return n.propose(ctx, data, nil)
}

// propose commits data through the leader. When an attempt's outcome is
// unknown (the leader it went to was lost, see forward) and the command
// is safe to send twice (state.Command.SafeToRetry; safe decides it, or
// nil to decode data), it sends it once more, through the new leader: a
// retry that applies proves the first attempt never will. Whatever the
// retry meets short of a clean success (a precondition that fails,
// perhaps because the first attempt did apply; no quorum; another lost
// leader) is reported as unknown.
func (n *Node) propose(ctx context.Context, data []byte, safe func() bool) (state.Results, error) {
	var waitStart time.Time
	var unknown error // the first attempt's unknown outcome
	for {
		if err := n.alive(ctx); err != nil {
			return nil, stillUnknown(unknown, err)
		}
		var res state.Results
		var err error
		if n.IsLeader() {
			res, err = n.applyLocal(ctx, data)
			if errors.Is(err, ErrNotLeader) {
				continue
			}
			err = n.leadershipLost(ctx, err)
		} else {
			_, addr := n.Leader()
			if addr == "" || addr == n.cfg.Addr {
				if err := n.waitForLeader(ctx, &waitStart); err != nil {
					return nil, stillUnknown(unknown, err)
				}
				continue
			}
			var abandoned bool
			abandoned, err = n.forward(ctx, addr, func(fctx context.Context) error {
				var ferr error
				res, ferr = n.fwd.Apply(fctx, addr, data)
				return ferr
			})
			switch {
			case abandoned:
				n.log.Warn("abandoned a write forwarded to a lost leader", "leader", addr, "err", err)
				// Wait for the next leader to say "unknown", or a quorum
				// error if none comes.
				err = n.leadershipLost(ctx, errLeadershipLost)
			case errors.Is(err, ErrNotSent), errors.Is(err, ErrNotLeader):
				if err := n.waitForLeader(ctx, &waitStart); err != nil {
					return nil, stillUnknown(unknown, err)
				}
				continue
			}
		}
		if unknown != nil {
			// A retry: only a clean success says what happened.
			if err == nil && res.Err() != nil {
				return nil, fmt.Errorf("%w (a retry found: %v)", unknown, res.Err())
			}
			return res, stillUnknown(unknown, err)
		}
		if !errors.Is(err, ErrUnknownOutcome) {
			return res, err
		}
		if ctx.Err() != nil || !n.safeToRetry(data, &safe) {
			return nil, err
		}
		unknown = err
		n.log.Info("write outcome unknown; sending it again, its preconditions make that safe", "err", err)
	}
}

// safeToRetry tells whether the encoded command may be sent again after
// an unknown outcome.
func (n *Node) safeToRetry(data []byte, safe *func() bool) bool {
	if *safe == nil {
		*safe = func() bool {
			cmd, err := state.DecodeCommand(data)
			return err == nil && cmd.SafeToRetry()
		}
	}
	return (*safe)()
}

// stillUnknown is the error to report for err, an attempt's failure, after
// an earlier attempt's outcome was unknown: the write may have applied,
// whatever err says.
func stillUnknown(unknown, err error) error {
	if unknown == nil || err == nil {
		return err
	}
	var qe *QuorumError
	if errors.As(err, &qe) {
		q := *qe
		q.Pending = true
		return &q
	}
	if errors.Is(err, ErrUnknownOutcome) {
		return err
	}
	return fmt.Errorf("%w (a retry failed: %v)", unknown, err)
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
	return res, n.leadershipLost(ctx, err)
}

// errLeadershipLost is applyLocal's report that the write was appended but
// leadership was lost before it committed.
var errLeadershipLost = errors.New("raft: leadership lost")

// leadershipLost turns errLeadershipLost into the error a client sees: a
// QuorumError if no new leader appears, ErrUnknownOutcome otherwise.
func (n *Node) leadershipLost(ctx context.Context, err error) error {
	if !errors.Is(err, errLeadershipLost) {
		return err
	}
	if n.quorumLost(ctx) {
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
		case errors.Is(err, errLocalStore):
			// Not appended (robustness TestDiskFaults: a leader on a
			// full disk answered 500): retried through the next leader.
			n.log.Warn("this leader could not write an entry to its disk; it steps down", "err", err)
			return nil, ErrNotLeader
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
// tells whether none appeared. The end of ctx ends the wait as if one had.
func (n *Node) quorumLost(ctx context.Context) bool {
	deadline := time.Now().Add(n.cfg.LeaderWaitTimeout)
	for time.Now().Before(deadline) {
		if id, _ := n.Leader(); id != "" {
			return false
		}
		select {
		case <-ctx.Done():
			return false
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
			idx, err := n.readIndexShared(ctx)
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
		var idx uint64
		abandoned, err := n.forward(ctx, addr, func(fctx context.Context) error {
			var ferr error
			idx, ferr = n.readIdx.do(fctx, addr, func(c context.Context) (uint64, error) {
				return n.fwd.ReadIndex(c, addr)
			})
			return ferr
		})
		// A read index changes nothing: ask the next leader.
		if abandoned || errors.Is(err, ErrNotSent) || errors.Is(err, ErrNotLeader) {
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

// readIndexShared is ReadIndexLocal, shared by the reads that wait at the
// same time (see coalescer): one quorum round serves them all, whether
// they came to this leader's API or were forwarded by followers.
func (n *Node) readIndexShared(ctx context.Context) (uint64, error) {
	return n.readIdx.do(ctx, "", n.ReadIndexLocal)
}

// ReadIndexLocal returns an index that covers every acknowledged write. This
// node must be the leader: it confirms with a quorum that it still is.
func (n *Node) ReadIndexLocal(ctx context.Context) (uint64, error) {
	if !n.IsLeader() {
		return 0, ErrNotLeader
	}
	// A new leader first applies a no-op of its own term.
	var term uint64
	for {
		if term = n.readyTerm.Load(); term != 0 && n.raft.CurrentTerm() == term {
			break
		}
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
	// Raft answers the verification when a quorum does, or when this node
	// steps down (at the latest after its lease without a quorum); the
	// caller and the shutdown may end the wait sooner. A verification
	// counts the votes of the configuration it started in: one that
	// started before a manager's removal may wait for that manager's
	// heartbeat forever (two managers demoted to one: Raft never answers
	// it, and every read sharing the round would hang). So a verification
	// unanswered after a heartbeat timeout is asked again; any verification
	// started after idx was taken confirms it.
	for {
		f := n.raft.VerifyLeader()
		done := make(chan error, 1)
		go func() { done <- f.Error() }()
		select {
		case err := <-done:
			// The verification confirms the leadership of the term the
			// node is in now; the index was taken in term, once it was
			// ready.
			if err != nil || n.raft.CurrentTerm() != term {
				return 0, ErrNotLeader
			}
			return idx, nil
		case <-time.After(n.cfg.HeartbeatTimeout):
			if !n.IsLeader() || n.raft.CurrentTerm() != term {
				return 0, ErrNotLeader
			}
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-n.shutdownCh:
			return 0, ErrShutdown
		}
	}
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
		abandoned, err := n.forward(ctx, addr, func(fctx context.Context) error {
			return n.fwd.ChangeMembership(fctx, addr, req)
		})
		if abandoned {
			return fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
		}
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
			mu.Lock() // the probes of earlier members count too
			reachable++
			mu.Unlock()
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
		n.saveApplied()
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
