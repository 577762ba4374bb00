package dispatcher

import (
	"sync"

	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/model"
)

// session is one node's open session stream. The leadership's goroutines record
// what must be sent (set*, update, remove, addLogs) without ever blocking;
// the stream's own goroutine takes it and writes it. Changes to one task
// overwrite each other until they are sent, so a slow node holds at most
// one pending change per task and never slows the leadership down.
type session struct {
	id        string
	nodeID    string
	addr      string
	desc      *model.NodeDescription
	engineErr string

	mu       sync.Mutex
	full     map[string]*model.Task // non-nil: a full set is pending
	updated  map[string]*model.Task
	removed  map[string]struct{}
	node     *protocol.NodeInfo
	managers []protocol.Manager
	mgrsSet  bool
	gossip   [][]byte
	logs     []protocol.LogSubscription
	secrets  *protocol.Secrets     // non-nil: a set is pending
	networks *protocol.NetworkView // non-nil: a view is pending

	wake      chan struct{} // holds a token while something is pending
	ended     chan struct{} // closed when the dispatcher ends the session
	endOnce   sync.Once
	endReason string
}

func newSession(nodeID, addr string, req protocol.SessionRequest) *session {
	return &session{
		id:        model.NewID(),
		nodeID:    nodeID,
		addr:      addr,
		desc:      req.Description,
		engineErr: req.EngineError,
		updated:   map[string]*model.Task{},
		removed:   map[string]struct{}{},
		wake:      make(chan struct{}, 1),
		ended:     make(chan struct{}),
	}
}

func (s *session) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// end makes the stream finish; the node opens a new session.
func (s *session) end(reason string) {
	s.endOnce.Do(func() {
		s.mu.Lock()
		s.endReason = reason
		s.mu.Unlock()
		close(s.ended)
	})
}

func (s *session) reason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endReason
}

// setFull replaces whatever assignments are pending with the full set.
func (s *session) setFull(tasks []*model.Task) {
	s.mu.Lock()
	s.full = make(map[string]*model.Task, len(tasks))
	for _, t := range tasks {
		s.full[t.ID] = t
	}
	clear(s.updated)
	clear(s.removed)
	s.mu.Unlock()
	s.signal()
}

func (s *session) update(t *model.Task) {
	s.mu.Lock()
	if s.full != nil {
		s.full[t.ID] = t
	} else {
		s.updated[t.ID] = t
		delete(s.removed, t.ID)
	}
	s.mu.Unlock()
	s.signal()
}

func (s *session) remove(id string) {
	s.mu.Lock()
	if s.full != nil {
		delete(s.full, id)
	} else {
		delete(s.updated, id)
		s.removed[id] = struct{}{}
	}
	s.mu.Unlock()
	s.signal()
}

func (s *session) setNode(n *protocol.NodeInfo) {
	s.mu.Lock()
	s.node = n
	s.mu.Unlock()
	s.signal()
}

func (s *session) setManagers(m []protocol.Manager) {
	s.mu.Lock()
	s.managers, s.mgrsSet = m, true
	s.mu.Unlock()
	s.signal()
}

func (s *session) setGossip(keys [][]byte) {
	if len(keys) == 0 {
		return
	}
	s.mu.Lock()
	s.gossip = keys
	s.mu.Unlock()
	s.signal()
}

// setSecrets replaces the pending secrets with the node's whole set.
func (s *session) setSecrets(sec *protocol.Secrets) {
	s.mu.Lock()
	s.secrets = sec
	s.mu.Unlock()
	s.signal()
}

// setNetworks replaces the pending network view with the whole view.
func (s *session) setNetworks(v *protocol.NetworkView) {
	s.mu.Lock()
	s.networks = v
	s.mu.Unlock()
	s.signal()
}

func (s *session) addLogs(sub protocol.LogSubscription) {
	s.mu.Lock()
	s.logs = append(s.logs, sub)
	s.mu.Unlock()
	s.signal()
}

// take returns the pending messages, in the order a session starts with:
// managers, gossip keys, node, secrets, networks, assignments, log
// subscriptions.
func (s *session) take() []protocol.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []protocol.Message
	if s.mgrsSet {
		out = append(out, protocol.Message{Type: protocol.MessageManagers, Managers: s.managers})
		s.managers, s.mgrsSet = nil, false
	}
	if s.gossip != nil {
		out = append(out, protocol.Message{Type: protocol.MessageGossip, GossipKeys: s.gossip})
		s.gossip = nil
	}
	if s.node != nil {
		out = append(out, protocol.Message{Type: protocol.MessageNode, Node: s.node})
		s.node = nil
	}
	// What the tasks need comes before the tasks.
	if s.secrets != nil {
		out = append(out, protocol.Message{Type: protocol.MessageSecrets, Secrets: s.secrets})
		s.secrets = nil
	}
	if s.networks != nil {
		out = append(out, protocol.Message{Type: protocol.MessageNetworks, Networks: s.networks})
		s.networks = nil
	}
	switch {
	case s.full != nil:
		a := &protocol.Assignments{Full: true, Tasks: make([]*model.Task, 0, len(s.full))}
		for _, t := range s.full {
			a.Tasks = append(a.Tasks, t)
		}
		out = append(out, protocol.Message{Type: protocol.MessageAssignments, Assignments: a})
		s.full = nil
	case len(s.updated) > 0 || len(s.removed) > 0:
		a := &protocol.Assignments{}
		for _, t := range s.updated {
			a.Tasks = append(a.Tasks, t)
		}
		for id := range s.removed {
			a.Removed = append(a.Removed, id)
		}
		out = append(out, protocol.Message{Type: protocol.MessageAssignments, Assignments: a})
		clear(s.updated)
		clear(s.removed)
	}
	for i := range s.logs {
		out = append(out, protocol.Message{Type: protocol.MessageLogs, Logs: &s.logs[i]})
	}
	s.logs = nil
	return out
}
