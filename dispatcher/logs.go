package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/transport"
)

// SubscribeLogs streams the logs of the tasks sel selects. The
// subscription goes to the agents of the nodes that run matching tasks,
// on their session streams; they publish the lines back. Each node's part
// that ends early (the node is not connected, disconnects, or cannot read
// a log) yields a message with Err set.
//
// Without opts.Follow the channel is closed once every involved node has
// sent its lines. With it, lines keep coming, including those of matching
// tasks that start later, until ctx ends; then the channel is closed.
// The caller must drain the channel until it is closed or cancel ctx: a
// subscriber that does not read slows the agents down, never the
// dispatcher. It returns ErrNotLeader when the dispatcher is not running.
//
// Away from the leader, with Config.ManagerClient set, the subscription is
// forwarded to the leader; if the leader's stream breaks, a message with
// Err set says so before the channel closes.
func (d *Dispatcher) SubscribeLogs(ctx context.Context, sel LogSelector, opts LogOptions) (<-chan LogMessage, error) {
	if t := d.currentLeadership(); t != nil {
		return t.broker.subscribe(ctx, sel, opts)
	}
	if d.cfg.ManagerClient == nil {
		return nil, ErrNotLeader
	}
	_, addr := d.leaderAddr()
	if addr == "" {
		return nil, ErrNotLeader
	}
	body, err := protocol.SubscribeLogs(ctx, d.cfg.ManagerClient, addr, protocol.LogsRequest{Selector: sel, Options: opts})
	if err != nil {
		if protocol.StatusCode(err) == http.StatusMisdirectedRequest || protocol.StatusCode(err) == http.StatusServiceUnavailable {
			return nil, fmt.Errorf("%w: forwarding to %s: %w", ErrNotLeader, addr, err)
		}
		return nil, fmt.Errorf("dispatcher: forwarding logs to the leader at %s: %w", addr, err)
	}
	ch := make(chan LogMessage, d.cfg.LogBuffer)
	go func() {
		defer close(ch)
		defer body.Close()
		dec := json.NewDecoder(body)
		for {
			var m LogMessage
			if err := dec.Decode(&m); err != nil {
				if !errors.Is(err, io.EOF) && ctx.Err() == nil {
					select {
					case ch <- LogMessage{Err: "log stream from the leader broke: " + err.Error()}:
					case <-ctx.Done():
					}
				}
				return
			}
			select {
			case ch <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

// serveSubscribe serves a log subscription a manager forwards.
func (d *Dispatcher) serveSubscribe(w http.ResponseWriter, r *http.Request) {
	if d.cfg.Identify == nil {
		transport.WriteError(w, http.StatusInternalServerError, "dispatcher: no identify function configured")
		return
	}
	id, err := d.cfg.Identify(r)
	if err != nil {
		transport.WriteError(w, http.StatusUnauthorized, "a node certificate of this cluster is required: "+err.Error())
		return
	}
	if id.Role != model.RoleManager {
		transport.WriteError(w, http.StatusForbidden, "node "+id.NodeID+" is not a manager")
		return
	}
	var req protocol.LogsRequest
	if err := decodeBody(r, maxSessionRequest, &req); err != nil {
		transport.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	t := d.currentLeadership()
	if t == nil {
		d.notLeader(w)
		return
	}
	ch, err := t.broker.subscribe(r.Context(), req.Selector, req.Options)
	if err != nil {
		transport.WriteError(w, http.StatusInternalServerError, err.Error())
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	w.Header().Set("Content-Type", protocol.ContentTypeStream)
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	enc := json.NewEncoder(w)
	for m := range ch {
		_ = rc.SetWriteDeadline(time.Now().Add(d.cfg.WriteTimeout))
		if enc.Encode(&m) != nil {
			break
		}
		// Send what is there; wait for more only when nothing is.
		if len(ch) == 0 && rc.Flush() != nil {
			break
		}
		_ = rc.SetWriteDeadline(time.Time{})
	}
	for range ch { // the subscription ends with the request's context
	}
}

// broker routes log subscriptions to agents and their lines back.
type broker struct {
	t    *leadership
	mu   sync.Mutex
	subs map[string]*subscription
}

func newBroker(t *leadership) *broker {
	return &broker{t: t, subs: map[string]*subscription{}}
}

// subscription is one SubscribeLogs call.
type subscription struct {
	id   string
	sel  LogSelector
	opts LogOptions
	ch   chan LogMessage

	mu sync.Mutex
	// nodes are the nodes involved. Without Follow the value says whether
	// the node's part is still pending; with Follow it is not used.
	nodes    map[string]bool
	finished bool
	done     chan struct{}
	// wg counts goroutines that may send on ch.
	wg sync.WaitGroup
}

func (b *broker) subscribe(ctx context.Context, sel LogSelector, opts LogOptions) (<-chan LogMessage, error) {
	sub := &subscription{
		id:    model.NewID(),
		sel:   sel,
		opts:  opts,
		ch:    make(chan LogMessage, b.t.cfg.LogBuffer),
		nodes: map[string]bool{},
		done:  make(chan struct{}),
	}
	err := b.t.d.store.View(func(tx state.ReadTx) error {
		add := func(task *model.Task) bool {
			if assigned(task) {
				sub.nodes[task.NodeID] = true
			}
			return true
		}
		for _, id := range sel.TaskIDs {
			if task := tx.GetTask(id); task != nil {
				add(task)
			}
		}
		for _, id := range sel.ServiceIDs {
			if err := tx.ForEachTask(state.ByServiceID(id), add); err != nil {
				return err
			}
		}
		for _, id := range sel.NodeIDs {
			if tx.GetNode(id) != nil {
				sub.nodes[id] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dispatcher: logs: %w", err)
	}
	b.mu.Lock()
	b.subs[sub.id] = sub
	b.mu.Unlock()

	msg := protocol.LogSubscription{ID: sub.id, Selector: sel, Options: opts}
	involved := make([]string, 0, len(sub.nodes))
	for node := range sub.nodes {
		involved = append(involved, node)
	}
	for _, node := range involved {
		if s := b.t.nodeSession(node); s != nil {
			s.addLogs(msg)
		} else {
			go sub.fail(node, "node "+node+" is not connected")
		}
	}
	if !opts.Follow {
		sub.checkFinish()
	}
	b.t.log.Debug("log subscription", "subscription", sub.id, "nodes", len(involved), "follow", opts.Follow)

	go func() {
		select {
		case <-ctx.Done():
		case <-sub.done:
		}
		b.mu.Lock()
		delete(b.subs, sub.id)
		b.mu.Unlock()
		sub.mu.Lock()
		var active []string
		for node, pending := range sub.nodes {
			if pending || sub.opts.Follow {
				active = append(active, node)
			}
		}
		sub.mu.Unlock()
		for _, node := range active {
			if s := b.t.nodeSession(node); s != nil {
				s.addLogs(protocol.LogSubscription{ID: sub.id, Close: true})
			}
		}
		sub.finish()
	}()
	return sub.ch, nil
}

func (b *broker) get(id string) *subscription {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.subs[id]
}

func (b *broker) all() []*subscription {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*subscription, 0, len(b.subs))
	for _, s := range b.subs {
		out = append(out, s)
	}
	return out
}

// nodeGone ends a node's part of every subscription with an error.
func (b *broker) nodeGone(node, msg string) {
	for _, sub := range b.all() {
		if sub.involves(node) {
			go sub.fail(node, msg)
		}
	}
}

// sessionOpened sends a node's new session the follow subscriptions it is
// involved in, for lines from now on.
func (b *broker) sessionOpened(s *session, tasks []*model.Task) {
	for _, sub := range b.all() {
		if !sub.opts.Follow {
			continue
		}
		involved := sub.involves(s.nodeID)
		for _, t := range tasks {
			if involved {
				break
			}
			involved = sub.sel.Matches(t)
		}
		if !involved {
			continue
		}
		sub.involve(s.nodeID)
		opts := sub.opts
		opts.Tail = protocol.TailNone
		s.addLogs(protocol.LogSubscription{ID: sub.id, Selector: sub.sel, Options: opts})
	}
}

// taskAssigned sends a follow subscription that matches a newly assigned
// task to its node, if the node was not involved yet (an involved node's
// agent picks up new matching tasks itself).
func (b *broker) taskAssigned(t *model.Task, s *session) {
	if s == nil {
		return
	}
	for _, sub := range b.all() {
		if !sub.opts.Follow || !sub.sel.Matches(t) || sub.involves(t.NodeID) {
			continue
		}
		sub.involve(t.NodeID)
		s.addLogs(protocol.LogSubscription{ID: sub.id, Selector: sub.sel, Options: sub.opts})
	}
}

// closeAll ends every subscription with an error message.
func (b *broker) closeAll(msg string) {
	for _, sub := range b.all() {
		go func() {
			sub.send(LogMessage{Err: msg})
			sub.finish()
		}()
	}
}

func (s *subscription) involves(node string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.nodes[node]
	return ok
}

func (s *subscription) isFinished() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.finished
}

func (s *subscription) involve(node string) {
	s.mu.Lock()
	s.nodes[node] = true
	s.mu.Unlock()
}

// send delivers a message; false once the subscription is finished.
// Senders are counted, so that the channel is closed only once none is
// left.
func (s *subscription) send(m LogMessage) bool {
	s.mu.Lock()
	if s.finished {
		s.mu.Unlock()
		return false
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	select {
	case s.ch <- m:
		return true
	case <-s.done:
		return false
	}
}

// claim ends a node's pending part; false if it had ended already.
// Follow subscriptions have no parts to end.
func (s *subscription) claim(node string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.Follow {
		return true
	}
	if !s.nodes[node] {
		return false
	}
	s.nodes[node] = false
	return true
}

// checkFinish finishes a subscription without Follow whose parts have all
// ended.
func (s *subscription) checkFinish() {
	s.mu.Lock()
	if s.opts.Follow {
		s.mu.Unlock()
		return
	}
	for _, pending := range s.nodes {
		if pending {
			s.mu.Unlock()
			return
		}
	}
	s.mu.Unlock()
	s.finish()
}

// finish stops deliveries and closes the channel once the goroutines that
// were sending have left.
func (s *subscription) finish() {
	s.mu.Lock()
	if s.finished {
		s.mu.Unlock()
		return
	}
	s.finished = true
	close(s.done)
	s.mu.Unlock()
	go func() {
		s.wg.Wait()
		close(s.ch)
	}()
}

// fail ends a node's part with an error message.
func (s *subscription) fail(node, msg string) {
	if !s.claim(node) {
		return
	}
	s.send(LogMessage{Context: LogContext{NodeID: node}, Err: msg})
	s.checkFinish()
}

// servePublish receives a node's part of a subscription.
func (d *Dispatcher) servePublish(w http.ResponseWriter, r *http.Request, id ca.Identity) {
	t := d.currentLeadership()
	if t == nil {
		d.notLeader(w)
		return
	}
	sub := t.broker.get(r.PathValue("subscription"))
	switch {
	case sub == nil:
		transport.WriteError(w, http.StatusNotFound, "log subscription not found (it ended)")
		return
	case !sub.involves(id.NodeID):
		transport.WriteError(w, http.StatusForbidden, "node "+id.NodeID+" is not part of this log subscription")
		return
	case sub.isFinished():
		transport.WriteError(w, http.StatusGone, "log subscription ended")
		return
	}
	// A subscription that ends stops the reading of the publication.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-sub.done:
			r.Body.Close()
		case <-stop:
		}
	}()

	owned := map[string]bool{}
	owns := func(taskID string) bool {
		ok, seen := owned[taskID]
		if !seen {
			_ = d.store.View(func(tx state.ReadTx) error {
				task := tx.GetTask(taskID)
				ok = task != nil && task.NodeID == id.NodeID
				return nil
			})
			owned[taskID] = ok
		}
		return ok
	}
	dec := json.NewDecoder(r.Body)
	complete := false
	var readErr error
read:
	for {
		var p protocol.LogPublication
		if err := dec.Decode(&p); err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		for _, m := range p.Messages {
			m.Context.NodeID = id.NodeID
			if m.Context.TaskID != "" && !owns(m.Context.TaskID) {
				continue
			}
			if !sub.send(m) {
				break read
			}
		}
		if p.Done {
			complete = true
			break
		}
	}
	if !complete && sub.claim(id.NodeID) {
		msg := "log stream of node " + id.NodeID + " ended early"
		if readErr != nil {
			msg += ": " + readErr.Error()
		}
		sub.send(LogMessage{Context: LogContext{NodeID: id.NodeID}, Err: msg})
		sub.checkFinish()
	} else if complete && sub.claim(id.NodeID) {
		sub.checkFinish()
	}
	w.WriteHeader(http.StatusNoContent)
}
