package dispatcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/internal/clock"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// leadership is one leadership of the dispatcher: what Run serves. It owns
// the one store watcher, fanned out to sessions by node ID, the liveness
// of every node, the status batcher and the log broker. Nothing outlives
// the leadership: a new leader starts from the store.
type leadership struct {
	d   *Dispatcher
	cfg *Config
	ctx context.Context
	log *slog.Logger

	// period is the heartbeat period in nanoseconds, from the cluster
	// spec (or Config.HeartbeatPeriod); nodeCount, the number of nodes,
	// stretches it past Config.MaxHeartbeatRate.
	period    atomic.Int64
	nodeCount atomic.Int64

	// mu guards nodes and sessions. Lock order: leadership.mu, then session.mu.
	mu       sync.Mutex
	nodes    map[string]*nodeEntry
	sessions map[string]*session // by session ID

	// Owned by the run goroutine: the change feed and the index built
	// from it, so that a registering session gets a full set consistent
	// with the changes that follow it.
	watcher  *state.Watcher
	tasks    map[string]map[string]*model.Task // node ID -> task ID -> task
	nodeObjs map[string]*model.Node
	// res indexes the secrets, configs and network views nodes need.
	res      *resources
	managers []protocol.Manager
	// gossip are the cluster's gossip keys, primary first.
	gossip [][]byte
	regs   chan registration

	batch  *batcher
	broker *broker
	wg     sync.WaitGroup
}

// nodeEntry is the liveness of one node, guarded by leadership.mu.
type nodeEntry struct {
	id      string
	session *session
	// deadline is when the node is marked DOWN with reason unless a
	// heartbeat or a session moves it; zero when not tracked.
	deadline time.Time
	reason   string
	timer    clock.Timer
	// down is set once the dispatcher has marked the node DOWN (or found
	// it DOWN at the start of the leadership) until its next session.
	down      bool
	engineErr string
	addr      string
	// lastBeat is when the node last showed life (a heartbeat, a session).
	lastBeat time.Time
	// holdUntil bounds how long gossip may keep a silent node up.
	holdUntil time.Time
}

type registration struct {
	s     *session
	reply chan error
}

// errNodeNotFound is a session refused because the node is not in the
// store.
var errNodeNotFound = errors.New("node is not a member of the cluster")

func newLeadership(ctx context.Context, d *Dispatcher) (*leadership, error) {
	t := &leadership{
		d:        d,
		cfg:      &d.cfg,
		ctx:      ctx,
		log:      d.log,
		nodes:    map[string]*nodeEntry{},
		sessions: map[string]*session{},
		regs:     make(chan registration),
	}
	t.batch = newBatcher(t)
	t.broker = newBroker(t)
	if err := t.resync(); err != nil {
		return nil, err
	}
	// Every node that is not known to be down must reach this leader
	// within the leader change grace, longer the more nodes reconnect.
	deadline := t.cfg.Clock.Now().Add(leaderChangeGrace(t.cfg, len(t.nodeObjs)))
	t.mu.Lock()
	for id, n := range t.nodeObjs {
		e := &nodeEntry{id: id, addr: n.Status.Addr}
		t.nodes[id] = e
		if n.Status.State == model.NodeStateDown {
			e.down = true
			continue
		}
		e.deadline, e.reason = deadline, MessageHeartbeatFailure
		t.arm(e)
	}
	t.mu.Unlock()
	return t, nil
}

// resync (re)builds the index from a new snapshot and watcher.
func (t *leadership) resync() error {
	if t.watcher != nil {
		t.watcher.Close()
	}
	tasks := map[string]map[string]*model.Task{}
	nodes := map[string]*model.Node{}
	res := newResources()
	var period time.Duration
	var gossip [][]byte
	w, err := t.d.store.ViewAndWatch(func(tx state.ReadTx) error {
		if c := tx.Cluster(); c != nil {
			period = c.Spec.Dispatcher.HeartbeatPeriod
			gossip = gossipKeys(c)
		}
		ns, err := tx.FindNodes(state.All)
		if err != nil {
			return err
		}
		for _, n := range ns {
			nodes[n.ID] = n
			res.observeNode(n, nil, false)
		}
		if err := res.seed(tx); err != nil {
			return err
		}
		return tx.ForEachTask(state.All, func(task *model.Task) bool {
			res.observeTask(task, false)
			if assigned(task) {
				m := tasks[task.NodeID]
				if m == nil {
					m = map[string]*model.Task{}
					tasks[task.NodeID] = m
				}
				m[task.ID] = task
			}
			return true
		})
	}, state.WithFilter(func(e state.Event) bool {
		switch e.Object.(type) {
		case *model.Task, *model.Node, *model.Cluster, *model.Secret, *model.Config, *model.Network, *model.Service:
			return true
		}
		return false
	}))
	if err != nil {
		return err
	}
	// Sessions get the whole sets when they register (or resendAll).
	clear(res.dirtySecrets)
	clear(res.dirtyNets)
	clear(res.dirtyViews)
	t.watcher, t.tasks, t.nodeObjs, t.res = w, tasks, nodes, res
	t.nodeCount.Store(int64(len(nodes)))
	t.setPeriod(period)
	t.managers = managerList(nodes)
	t.gossip = gossip
	return nil
}

func gossipKeys(c *model.Cluster) [][]byte {
	out := make([][]byte, 0, len(c.GossipKeys))
	for _, k := range c.GossipKeys {
		out = append(out, k.Key)
	}
	return out
}

func (t *leadership) setPeriod(p time.Duration) {
	if p <= 0 {
		p = t.cfg.HeartbeatPeriod
	}
	t.period.Store(int64(p))
}

// heartbeatPeriod is the period nodes are asked to heartbeat at: the
// configured one, stretched so that the leader receives at most
// Config.MaxHeartbeatRate heartbeats a second.
func (t *leadership) heartbeatPeriod() time.Duration {
	return stretchPeriod(time.Duration(t.period.Load()), int(t.nodeCount.Load()), t.cfg.MaxHeartbeatRate)
}

func stretchPeriod(p time.Duration, nodes, maxRate int) time.Duration {
	if maxRate <= 0 || nodes <= maxRate {
		return p
	}
	if s := time.Duration(nodes) * time.Second / time.Duration(maxRate); s > p {
		return s.Round(time.Millisecond)
	}
	return p
}

// leaderChangeGrace is how long the nodes have to reach a new leader.
func leaderChangeGrace(c *Config, nodes int) time.Duration {
	g := c.LeaderChangeGrace
	if c.ReconnectRate > 0 {
		g += time.Duration(nodes) * time.Second / time.Duration(c.ReconnectRate)
	}
	return g
}

func (t *leadership) grace() time.Duration {
	return t.heartbeatPeriod() * time.Duration(t.cfg.GraceMultiplier)
}

// assigned tells whether a task belongs in its node's assignments.
func assigned(t *model.Task) bool {
	return t.NodeID != "" && t.Status.State >= model.TaskStateAssigned
}

func isManager(n *model.Node) bool {
	return n.Role == model.RoleManager && n.ManagerStatus != nil && n.ManagerStatus.Addr != ""
}

func managerList(nodes map[string]*model.Node) []protocol.Manager {
	var out []protocol.Manager
	for _, n := range nodes {
		if isManager(n) {
			out = append(out, protocol.Manager{ID: n.ID, Addr: n.ManagerStatus.Addr, GossipAddr: n.ManagerStatus.GossipAddr})
		}
	}
	slices.SortFunc(out, func(a, b protocol.Manager) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}

func nodeInfo(n *model.Node) *protocol.NodeInfo {
	return &protocol.NodeInfo{ID: n.ID, Role: n.Role, Spec: n.Spec}
}

// run fans the change feed out to sessions and registers sessions, until
// the leadership ends.
func (t *leadership) run() {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.batch.run(t.ctx)
	}()
	for {
		select {
		case <-t.ctx.Done():
			return
		case reg := <-t.regs:
			reg.reply <- t.register(reg.s)
		case <-t.watcher.Ready():
			batches, err := t.watcher.Drain()
			if err != nil {
				if t.ctx.Err() != nil {
					return
				}
				t.log.Warn("change feed lost events; sending every node its full set again", "err", err)
				if err := t.resync(); err != nil {
					t.log.Error("cannot read the store; retrying", "err", err)
					select {
					case <-t.ctx.Done():
						return
					case <-time.After(100 * time.Millisecond):
					}
					continue
				}
				t.resendAll()
				continue
			}
			for _, b := range batches {
				for _, e := range b.Events {
					t.apply(e)
				}
			}
			t.flushResources()
		}
	}
}

// close ends every session and subscription of the leadership and waits for its
// goroutines. The leadership's context must be done.
func (t *leadership) close() {
	t.watcher.Close()
	t.mu.Lock()
	var ended []*session
	for _, e := range t.nodes {
		if e.timer != nil {
			e.timer.Stop()
		}
		if e.session != nil {
			ended = append(ended, e.session)
			e.session = nil
		}
	}
	t.sessions = map[string]*session{}
	t.mu.Unlock()
	for _, s := range ended {
		s.end("leadership lost")
	}
	t.broker.closeAll("the manager serving this subscription lost its leadership")
	t.wg.Wait()
}

func (t *leadership) trackedNodes() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.nodes)
}

func (t *leadership) sessionCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.sessions)
}

// ---------------------------------------------------------------------------
// Sessions

// registerSession makes s the node's session, through the run goroutine.
func (t *leadership) registerSession(ctx context.Context, s *session) error {
	reply := make(chan error, 1)
	select {
	case t.regs <- registration{s: s, reply: reply}:
	case <-t.ctx.Done():
		return ErrNotLeader
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		// The node went away while the run goroutine registered it.
		go func() {
			if <-reply == nil {
				t.unregister(s, true)
			}
		}()
		return ctx.Err()
	}
}

// register runs on the run goroutine.
func (t *leadership) register(s *session) error {
	n := t.nodeObjs[s.nodeID]
	if n == nil {
		return errNodeNotFound
	}
	full := make([]*model.Task, 0, len(t.tasks[s.nodeID]))
	for _, task := range t.tasks[s.nodeID] {
		full = append(full, task)
	}
	s.setManagers(t.managers)
	s.setGossip(t.gossip)
	s.setNode(nodeInfo(n))
	t.sendResources(s)
	s.setFull(full)

	t.mu.Lock()
	e := t.entry(s.nodeID)
	old := e.session
	if old != nil {
		delete(t.sessions, old.id)
	}
	e.session = s
	e.down = false
	e.engineErr = s.engineErr
	if s.addr != "" {
		e.addr = s.addr
	}
	e.deadline, e.reason = t.cfg.Clock.Now().Add(t.grace()), MessageHeartbeatFailure
	e.lastBeat, e.holdUntil = t.cfg.Clock.Now(), time.Time{}
	t.arm(e)
	t.sessions[s.id] = s
	st := statusOf(e)
	t.mu.Unlock()

	if old != nil {
		old.end("replaced by a new session")
		// The old session may have died with log subscriptions the node
		// never saw: end its parts; follow subscriptions go to the new one.
		t.broker.nodeGone(s.nodeID, "node "+s.nodeID+" reconnected")
	}
	t.batch.addNode(state.NodeStatusUpdate{ID: s.nodeID, Status: st, Description: s.desc})
	t.broker.sessionOpened(s, full)
	t.log.Info("session opened", "node", s.nodeID, "session", s.id, "addr", s.addr, "tasks", len(full))
	return nil
}

// unregister forgets a session whose stream ended. If the node's agent
// went away (clientGone) and no other session replaced this one, the node
// has CloseGrace to come back.
func (t *leadership) unregister(s *session, clientGone bool) {
	t.mu.Lock()
	delete(t.sessions, s.id)
	e := t.nodes[s.nodeID]
	current := e != nil && e.session == s
	if current {
		e.session = nil
		if clientGone && t.ctx.Err() == nil && !e.down {
			e.deadline, e.reason = t.cfg.Clock.Now().Add(t.cfg.CloseGrace), MessageSessionClosed
			t.arm(e)
		}
	}
	t.mu.Unlock()
	if current {
		t.broker.nodeGone(s.nodeID, "node "+s.nodeID+" disconnected")
		t.log.Info("session closed", "node", s.nodeID, "session", s.id, "by_node", clientGone)
	}
}

// session returns an open session by ID.
func (t *leadership) session(id string) *session {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sessions[id]
}

// nodeSession returns the node's open session, if any.
func (t *leadership) nodeSession(nodeID string) *session {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.nodes[nodeID]; e != nil {
		return e.session
	}
	return nil
}

// errSessionNotFound answers heartbeats and reports of ended sessions.
var errSessionNotFound = errors.New("session not found: open a new session")

// errWrongNode answers a node that names another node's session.
var errWrongNode = errors.New("the session belongs to another node")

// heartbeat records a heartbeat of a session and returns the period.
func (t *leadership) heartbeat(nodeID, sessionID, engineErr string) (time.Duration, error) {
	t.mu.Lock()
	s := t.sessions[sessionID]
	switch {
	case s == nil:
		t.mu.Unlock()
		return 0, errSessionNotFound
	case s.nodeID != nodeID:
		t.mu.Unlock()
		return 0, errWrongNode
	}
	e := t.nodes[nodeID]
	e.deadline, e.reason = t.cfg.Clock.Now().Add(t.grace()), MessageHeartbeatFailure
	e.lastBeat, e.holdUntil = t.cfg.Clock.Now(), time.Time{}
	changed := e.engineErr != engineErr
	e.engineErr = engineErr
	st := statusOf(e)
	t.mu.Unlock()
	if changed {
		if engineErr != "" {
			t.log.Warn("node's container engine is unavailable", "node", nodeID, "reason", engineErr)
		} else {
			t.log.Info("node's container engine is back", "node", nodeID)
		}
		t.batch.addNode(state.NodeStatusUpdate{ID: nodeID, Status: st})
	}
	return t.heartbeatPeriod(), nil
}

// entry returns the node's entry, creating it. Called with t.mu held.
func (t *leadership) entry(id string) *nodeEntry {
	e := t.nodes[id]
	if e == nil {
		e = &nodeEntry{id: id}
		t.nodes[id] = e
	}
	return e
}

// arm makes the node's timer fire by its deadline. Heartbeats only move
// the deadline later: the timer, firing early, re-arms itself. The timer
// is armed for the time itself (clock.AfterFuncAt), not for a duration
// from a reading of the clock that a test's fake clock may have moved
// past by the time the timer is armed. Called with t.mu held.
func (t *leadership) arm(e *nodeEntry) {
	at := e.deadline
	if s := t.suspectAt(e); !s.IsZero() && t.watchAt(e).Before(at) {
		at = t.watchAt(e)
	}
	if e.timer != nil {
		e.timer.Stop()
	}
	id := e.id
	e.timer = clock.AfterFuncAt(t.cfg.Clock, at, func() { t.expire(id) })
}

// expire marks a node DOWN if its deadline has passed.
func (t *leadership) expire(id string) {
	t.mu.Lock()
	e := t.nodes[id]
	if e == nil || e.down || e.deadline.IsZero() || t.ctx.Err() != nil {
		t.mu.Unlock()
		return
	}
	now := t.cfg.Clock.Now()
	// Late, and gossip cannot reach it either: unreachable, down now.
	// Suspected is asked from the first missed heartbeat on, so that it
	// can start slower checks of its own early.
	if s := t.suspectAt(e); !s.IsZero() && !now.Before(t.watchAt(e)) && t.cfg.Suspected(id) && !now.Before(s) {
		late := now.Sub(e.lastBeat)
		sess := t.setDown(e, MessageUnreachable)
		st := statusOf(e)
		t.mu.Unlock()
		t.log.Warn("node is down", "node", id, "reason", st.Message, "since_last_heartbeat", late.Round(time.Millisecond))
		t.down(id, sess, st)
		return
	}
	if d := e.deadline.Sub(now); d > 0 {
		e.timer.Reset(t.nextCheck(e, d))
		t.mu.Unlock()
		return
	}
	// A node that misses heartbeats but that gossip still sees alive is
	// slow or briefly cut off from this manager, not dead: hold it up, for
	// at most HeartbeatHold, and let gossip's failure detection (with its
	// suspicion phase) or the hold's end decide. Swarm users complain that
	// short blips restart everything.
	if e.reason == MessageHeartbeatFailure && t.cfg.Alive != nil && t.cfg.Alive(id) {
		if e.holdUntil.IsZero() {
			e.holdUntil = now.Add(t.cfg.HeartbeatHold)
		}
		if now.Before(e.holdUntil) {
			e.deadline = minTime(now.Add(t.heartbeatPeriod()), e.holdUntil)
			e.timer.Reset(t.nextCheck(e, e.deadline.Sub(now)))
			t.mu.Unlock()
			return
		}
	}
	overdue := now.Sub(e.deadline)
	s := t.setDown(e, e.reason)
	st := statusOf(e)
	t.mu.Unlock()
	t.log.Warn("node is down", "node", id, "reason", st.Message, "late_by", overdue.Round(time.Millisecond))
	t.down(id, s, st)
}

// suspectAt is when a silent node becomes late enough for gossip's
// suspicion to mark it down (Config.Suspected), zero when that rule does
// not apply: off, or the node is not waited on for heartbeats (a closed
// session, the start of a leadership: nodes reconnecting to a new leader are
// late for a good reason). Called with t.mu held.
func (t *leadership) suspectAt(e *nodeEntry) time.Time {
	if t.cfg.Suspected == nil || t.cfg.SuspectMultiplier == 0 || e.reason != MessageHeartbeatFailure || e.lastBeat.IsZero() {
		return time.Time{}
	}
	return e.lastBeat.Add(t.heartbeatPeriod() * time.Duration(t.cfg.SuspectMultiplier))
}

// watchAt is when a node has missed its first heartbeat: from then on,
// expire asks Config.Suspected every tenth of a period. Called with t.mu
// held, for a node to which suspectAt applies.
func (t *leadership) watchAt(e *nodeEntry) time.Time {
	return e.lastBeat.Add(t.heartbeatPeriod())
}

// nextCheck is when expire should look at a node again, at most d from
// now: sooner when the suspicion rule applies, once the node has missed a
// heartbeat, then every tenth of a period while it stays silent (gossip's
// suspicion may come before or after the lateness; only late nodes are
// polled). Called with t.mu held.
func (t *leadership) nextCheck(e *nodeEntry, d time.Duration) time.Duration {
	if t.suspectAt(e).IsZero() {
		return d
	}
	if w := t.watchAt(e).Sub(t.cfg.Clock.Now()); w > 0 {
		return min(d, w)
	}
	return min(d, max(t.heartbeatPeriod()/10, time.Millisecond))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// confirmDown marks a node DOWN if it has shown no life for a heartbeat
// period: gossip declared it failed, and the heartbeat path agrees.
func (t *leadership) confirmDown(id, reason string) (bool, error) {
	t.mu.Lock()
	e := t.nodes[id]
	if e == nil || e.down {
		t.mu.Unlock()
		return e != nil && e.down, nil
	}
	if t.cfg.Clock.Now().Sub(e.lastBeat) < t.heartbeatPeriod() {
		t.mu.Unlock()
		return false, nil
	}
	t.mu.Unlock()
	return true, t.markDown(id, reason)
}

// markDown marks a node DOWN at once.
func (t *leadership) markDown(id, reason string) error {
	var exists bool
	_ = t.d.store.View(func(tx state.ReadTx) error {
		exists = tx.GetNode(id) != nil
		return nil
	})
	if !exists {
		return fmt.Errorf("%w: %s", ErrUnknownNode, id)
	}
	t.mu.Lock()
	e := t.entry(id)
	s := t.setDown(e, reason)
	st := statusOf(e)
	t.mu.Unlock()
	t.log.Warn("node marked down", "node", id, "reason", reason)
	t.down(id, s, st)
	return nil
}

// setDown marks an entry down and detaches its session, which the caller
// must end. Called with t.mu held.
func (t *leadership) setDown(e *nodeEntry, reason string) *session {
	e.down, e.reason, e.deadline = true, reason, time.Time{}
	s := e.session
	e.session = nil
	if s != nil {
		delete(t.sessions, s.id)
	}
	return s
}

func (t *leadership) down(id string, s *session, st model.NodeStatus) {
	if s != nil {
		s.end(st.Message)
	}
	t.broker.nodeGone(id, "node "+id+" is down: "+st.Message)
	t.batch.addNode(state.NodeStatusUpdate{ID: id, Status: st})
}

// statusOf is the status the dispatcher writes for a node.
func statusOf(e *nodeEntry) model.NodeStatus {
	switch {
	case e.down:
		return model.NodeStatus{State: model.NodeStateDown, Message: e.reason, Addr: e.addr}
	case e.engineErr != "":
		return model.NodeStatus{State: model.NodeStateDown, Message: e.engineErr, Addr: e.addr}
	}
	return model.NodeStatus{State: model.NodeStateReady, Addr: e.addr}
}

// ---------------------------------------------------------------------------
// Change feed

// apply routes one change to the sessions it concerns. Run goroutine only.
func (t *leadership) apply(e state.Event) {
	deleted := e.Action == state.ActionDelete
	switch o := e.Object.(type) {
	case *model.Task:
		old, _ := e.Old.(*model.Task)
		t.applyTask(e.Action, o, old)
		t.res.observeTask(o, deleted)
	case *model.Node:
		old, _ := e.Old.(*model.Node)
		t.applyNode(e.Action, o, old)
		t.res.observeNode(o, old, deleted)
	case *model.Secret:
		if deleted {
			delete(t.res.secrets, o.ID)
		} else {
			t.res.secrets[o.ID] = o
		}
		t.res.observeSecret(o.ID, t.res.nodeSecrets)
	case *model.Config:
		if deleted {
			delete(t.res.configs, o.ID)
		} else {
			t.res.configs[o.ID] = o
		}
		t.res.observeSecret(o.ID, t.res.nodeConfigs)
	case *model.Network:
		if deleted {
			delete(t.res.networks, o.ID)
		} else {
			t.res.networks[o.ID] = o
		}
		t.res.dirtyNets[o.ID] = true
	case *model.Service:
		t.res.observeService(o, deleted)
	case *model.Cluster:
		if e.Action != state.ActionDelete {
			t.setPeriod(o.Spec.Dispatcher.HeartbeatPeriod)
			if keys := gossipKeys(o); !slices.EqualFunc(keys, t.gossip, bytes.Equal) {
				t.gossip = keys
				t.mu.Lock()
				for _, s := range t.sessions {
					s.setGossip(keys)
				}
				t.mu.Unlock()
			}
		}
	}
}

func (t *leadership) applyTask(action state.Action, task, old *model.Task) {
	var oldNode, newNode string
	if old != nil && assigned(old) {
		oldNode = old.NodeID
	}
	if action == state.ActionDelete {
		if assigned(task) {
			oldNode = task.NodeID
		}
	} else if assigned(task) {
		newNode = task.NodeID
	}
	if oldNode != "" && oldNode != newNode {
		delete(t.tasks[oldNode], task.ID)
		if s := t.nodeSession(oldNode); s != nil {
			s.remove(task.ID)
		}
	}
	if newNode == "" {
		return
	}
	m := t.tasks[newNode]
	if m == nil {
		m = map[string]*model.Task{}
		t.tasks[newNode] = m
	}
	m[task.ID] = task
	// A change of the observed status alone is the node's own report
	// coming back: not worth sending.
	if oldNode == newNode && old.DesiredState == task.DesiredState && old.SpecVersion == task.SpecVersion {
		return
	}
	s := t.nodeSession(newNode)
	if s != nil {
		s.update(task)
	}
	if oldNode != newNode {
		t.broker.taskAssigned(task, s)
	}
}

func (t *leadership) applyNode(action state.Action, n, old *model.Node) {
	wasManager := old != nil && isManager(old)
	if action == state.ActionDelete {
		wasManager = isManager(n)
		delete(t.nodeObjs, n.ID)
		delete(t.tasks, n.ID)
		t.nodeCount.Store(int64(len(t.nodeObjs)))
		t.mu.Lock()
		var s *session
		if e := t.nodes[n.ID]; e != nil {
			if e.timer != nil {
				e.timer.Stop()
			}
			s = e.session
			if s != nil {
				delete(t.sessions, s.id)
			}
			delete(t.nodes, n.ID)
		}
		t.mu.Unlock()
		if s != nil {
			s.end(MessageNodeRemoved)
		}
		t.broker.nodeGone(n.ID, "node "+n.ID+" was removed from the cluster")
	} else {
		t.nodeObjs[n.ID] = n
		t.nodeCount.Store(int64(len(t.nodeObjs)))
		if old != nil && (old.Role != n.Role || !reflect.DeepEqual(old.Spec, n.Spec)) {
			if s := t.nodeSession(n.ID); s != nil {
				s.setNode(nodeInfo(n))
			}
		}
	}
	if wasManager || (action != state.ActionDelete && isManager(n)) {
		list := managerList(t.nodeObjs)
		if !slices.Equal(list, t.managers) {
			t.managers = list
			t.mu.Lock()
			for _, s := range t.sessions {
				s.setManagers(list)
			}
			t.mu.Unlock()
		}
	}
}

// resendAll gives every session its full set again, after a resync.
func (t *leadership) resendAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.sessions {
		full := make([]*model.Task, 0, len(t.tasks[s.nodeID]))
		for _, task := range t.tasks[s.nodeID] {
			full = append(full, task)
		}
		s.setManagers(t.managers)
		s.setGossip(t.gossip)
		if n := t.nodeObjs[s.nodeID]; n != nil {
			s.setNode(nodeInfo(n))
		}
		t.sendResources(s)
		s.setFull(full)
	}
}
