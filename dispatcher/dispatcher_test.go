package dispatcher_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/dispatcher"
	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/state"
)

func TestSessionGetsFullSetThenChanges(t *testing.T) {
	h := newHarness(t, 3, time.Second, nil)
	h.addNode("worker-a")
	h.addNode("worker-b")
	svc, tasks := h.addService("web", "worker-a", "worker-a", "worker-b")
	mine := tasks["worker-a"]

	n := h.newTestNode("worker-a")
	if err := n.open(h.addr(h.leader().ID)); err != nil {
		t.Fatal(err)
	}
	// Managers, node, then the full set: the node's two tasks only.
	mgrs := n.next(protocol.MessageManagers, waitTimeout)
	if len(mgrs.Managers) != 3 {
		t.Fatalf("managers = %+v, want 3", mgrs.Managers)
	}
	for _, m := range mgrs.Managers {
		if m.Addr != h.addr(m.ID) {
			t.Fatalf("manager %s at %s, want %s", m.ID, m.Addr, h.addr(m.ID))
		}
	}
	node := n.next(protocol.MessageNode, waitTimeout)
	if node.Node.ID != "worker-a" || node.Node.Role != state.RoleWorker {
		t.Fatalf("node message %+v", node.Node)
	}
	full := n.next(protocol.MessageAssignments, waitTimeout).Assignments
	got := taskIDs(full.Tasks)
	if !full.Full || len(got) != 2 || got[mine[0]] == nil || got[mine[1]] == nil {
		t.Fatalf("full set = %+v, want tasks %v", full, mine)
	}
	if got[mine[0]].DesiredState != state.TaskStateRunning {
		t.Fatalf("desired state %v", got[mine[0]].DesiredState)
	}
	// The session makes the node READY with its description.
	ready := h.waitNodeState("worker-a", state.NodeStateReady, waitTimeout)
	if ready.Description.Hostname != "host-worker-a" || ready.Status.Addr != "127.0.0.1" {
		t.Fatalf("node after session: %+v", ready)
	}

	// The node's own status report is not sent back to it.
	if err := n.client.ReportStatus(context.Background(), protocol.StatusRequest{SessionID: n.session, Updates: []state.TaskStatusUpdate{
		{TaskID: mine[0], Status: state.TaskStatus{State: state.TaskStateAccepted, Message: "accepted"}},
	}}); err != nil {
		t.Fatal(err)
	}
	// A desired state change is.
	h.propose(h.leader(), state.Op{Type: state.OpSetTasksDesired, IDs: []string{mine[0]}, DesiredState: state.TaskStateShutdown})
	upd := n.next(protocol.MessageAssignments, waitTimeout).Assignments
	if upd.Full || len(upd.Tasks) != 1 || upd.Tasks[0].ID != mine[0] || upd.Tasks[0].DesiredState != state.TaskStateShutdown {
		t.Fatalf("update = %+v", upd)
	}
	if upd.Tasks[0].Status.State != state.TaskStateAccepted {
		t.Fatalf("update carries status %v, want the reported accepted", upd.Tasks[0].Status.State)
	}
	// A deleted task is removed; a task of another node is never seen.
	h.propose(h.leader(), state.Op{Type: state.OpDeleteTasks, IDs: []string{mine[1], tasks["worker-b"][0]}})
	rm := n.next(protocol.MessageAssignments, waitTimeout).Assignments
	if len(rm.Tasks) != 0 || !slices.Equal(rm.Removed, []string{mine[1]}) {
		t.Fatalf("removal = %+v", rm)
	}
	// A node spec change reaches the node.
	cur := h.node("worker-a").Copy()
	cur.Spec.Availability = state.AvailabilityDrain
	h.propose(h.leader(), state.Op{Type: state.OpUpdateNode, Node: cur, Version: cur.Version.Index})
	if ni := n.next(protocol.MessageNode, waitTimeout).Node; ni.Spec.Availability != state.AvailabilityDrain {
		t.Fatalf("node update %+v", ni)
	}
	// The one-shot read agrees.
	read, err := n.client.Tasks(context.Background())
	if err != nil || len(read) != 1 || read[0].ID != mine[0] {
		t.Fatalf("tasks read = %v, %v", read, err)
	}
	_ = svc
}

func TestNodeCannotActForAnotherNode(t *testing.T) {
	h := newHarness(t, 1, time.Second, nil)
	h.addNode("worker-a")
	h.addNode("worker-b")
	_, tasks := h.addService("web", "worker-a", "worker-b")
	addr := h.addr(h.leader().ID)

	a := h.newTestNode("worker-a")
	b := h.newTestNode("worker-b")
	if err := a.open(addr); err != nil {
		t.Fatal(err)
	}
	if err := b.open(addr); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// Worker A's certificate used for B's paths.
	impostor := &protocol.Client{HTTP: a.client.HTTP, Addr: addr, NodeID: "worker-b"}
	if _, err := impostor.OpenSession(ctx, protocol.SessionRequest{}); protocol.StatusCode(err) != http.StatusForbidden {
		t.Fatalf("session for another node: %v, want 403", err)
	}
	if _, err := impostor.Tasks(ctx); protocol.StatusCode(err) != http.StatusForbidden {
		t.Fatalf("reading another node's tasks: %v, want 403", err)
	}
	if _, err := impostor.Heartbeat(ctx, protocol.HeartbeatRequest{SessionID: b.session}); protocol.StatusCode(err) != http.StatusForbidden {
		t.Fatalf("heartbeat for another node: %v, want 403", err)
	}
	// A's own path, B's session.
	if _, err := a.client.Heartbeat(ctx, protocol.HeartbeatRequest{SessionID: b.session}); protocol.StatusCode(err) != http.StatusForbidden {
		t.Fatalf("heartbeat with another node's session: %v, want 403", err)
	}
	// A's own session, B's task.
	err := a.client.ReportStatus(ctx, protocol.StatusRequest{SessionID: a.session, Updates: []state.TaskStatusUpdate{
		{TaskID: tasks["worker-a"][0], Status: state.TaskStatus{State: state.TaskStateAccepted}},
		{TaskID: tasks["worker-b"][0], Status: state.TaskStatus{State: state.TaskStateFailed, Err: "forged"}},
	}})
	if protocol.StatusCode(err) != http.StatusForbidden {
		t.Fatalf("reporting another node's task: %v, want 403", err)
	}
	if st := h.task(tasks["worker-b"][0]).Status.State; st != state.TaskStateAssigned {
		t.Fatalf("B's task moved to %v", st)
	}
	// No certificate at all: 401.
	noCert, err := ca.ClientTLSConfig(nil, h.root)
	if err != nil {
		t.Fatal(err)
	}
	anon := &protocol.Client{HTTP: &http.Client{Transport: protocol.NewTransport(func() (*tls.Config, error) { return noCert, nil }, time.Second)}, Addr: addr, NodeID: "worker-a"}
	if _, err := anon.Tasks(ctx); protocol.StatusCode(err) != http.StatusUnauthorized {
		t.Fatalf("no certificate: %v, want 401", err)
	}
	// A node not in the store cannot open a session.
	ghost := h.newTestNode("ghost")
	if err := ghost.open(addr); protocol.StatusCode(err) != http.StatusForbidden {
		t.Fatalf("unknown node: %v, want 403", err)
	}
}

func TestFollowerRedirectsToLeader(t *testing.T) {
	h := newHarness(t, 3, time.Second, nil)
	h.addNode("worker-a")
	leader := h.leader()
	var follower string
	for _, m := range h.c.Followers() {
		follower = m.ID
	}
	n := h.newTestNode("worker-a")
	err := n.open(h.addr(follower))
	id, addr, ok := protocol.Leader(err)
	if !ok || id != leader.ID || addr != h.addr(leader.ID) {
		t.Fatalf("session on a follower: %v; want 421 naming %s at %s", err, leader.ID, h.addr(leader.ID))
	}
	if err := n.open(addr); err != nil {
		t.Fatalf("session on the leader: %v", err)
	}
}

func TestHeartbeatExpiryMarksNodeDown(t *testing.T) {
	h := newHarness(t, 1, 100*time.Millisecond, nil)
	h.addNode("worker-a")
	n := h.newTestNode("worker-a")
	if err := n.open(h.addr(h.leader().ID)); err != nil {
		t.Fatal(err)
	}
	if n.period != 100*time.Millisecond {
		t.Fatalf("period %v, want the cluster's 100ms", n.period)
	}
	h.waitNodeState("worker-a", state.NodeStateReady, waitTimeout)
	// Heartbeats keep it READY well past the grace.
	ctx, cancel := context.WithCancel(context.Background())
	go n.heartbeats(ctx)
	time.Sleep(600 * time.Millisecond)
	if st := h.node("worker-a").Status.State; st != state.NodeStateReady {
		t.Fatalf("node with heartbeats is %s", st)
	}
	// Heartbeats stop while the stream stays open: DOWN after 3 periods.
	cancel()
	stopped := time.Now()
	down := h.waitNodeState("worker-a", state.NodeStateDown, waitTimeout)
	took := time.Since(stopped)
	t.Logf("DOWN %v after the last heartbeat (grace 300ms)", took)
	if down.Status.Message != dispatcher.MessageHeartbeatFailure {
		t.Fatalf("message %q", down.Status.Message)
	}
	if took > 2*time.Second {
		t.Fatalf("DOWN after %v", took)
	}
	// The session was ended: the stream closes and heartbeats are refused.
	waitFor(t, waitTimeout, "stream end", func() bool {
		select {
		case _, ok := <-n.msgs:
			return !ok
		default:
			return false
		}
	})
	if _, err := n.client.Heartbeat(context.Background(), protocol.HeartbeatRequest{SessionID: n.session}); protocol.StatusCode(err) != http.StatusNotFound {
		t.Fatalf("heartbeat of an ended session: %v, want 404", err)
	}
}

func TestClosedSessionMarksNodeDownWithinCloseGrace(t *testing.T) {
	h := newHarness(t, 1, time.Second, nil)
	h.addNode("worker-a")
	h.addNode("worker-b")
	addr := h.addr(h.leader().ID)

	// A reconnects within the grace: no DOWN.
	a := h.newTestNode("worker-a")
	if err := a.open(addr); err != nil {
		t.Fatal(err)
	}
	h.waitNodeState("worker-a", state.NodeStateReady, waitTimeout)
	a.kill()
	time.Sleep(200 * time.Millisecond)
	if err := a.open(addr); err != nil {
		t.Fatal(err)
	}

	// B's process dies: its connection closes.
	b := h.newTestNode("worker-b")
	if err := b.open(addr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.heartbeats(ctx)
	go a.heartbeats(ctx)
	h.waitNodeState("worker-b", state.NodeStateReady, waitTimeout)
	killed := time.Now()
	b.kill()
	down := h.waitNodeState("worker-b", state.NodeStateDown, waitTimeout)
	took := time.Since(killed)
	t.Logf("connection closed -> DOWN in the store: %v (close grace 1s, heartbeat grace 3s)", took)
	if down.Status.Message != dispatcher.MessageSessionClosed {
		t.Fatalf("message %q", down.Status.Message)
	}
	if took < 900*time.Millisecond || took > 2*time.Second {
		t.Fatalf("DOWN after %v, want about the 1s close grace", took)
	}
	if st := h.node("worker-a").Status.State; st != state.NodeStateReady {
		t.Fatalf("A, which came back within the grace, is %s", st)
	}
	// B comes back: READY.
	if err := b.open(addr); err != nil {
		t.Fatal(err)
	}
	h.waitNodeState("worker-b", state.NodeStateReady, waitTimeout)
}

func TestStatusReportsAreBatched(t *testing.T) {
	h := newHarness(t, 1, time.Second, nil)
	const nodes, perNode = 20, 5
	var names, all []string
	for i := range nodes {
		id := "worker-" + string(rune('a'+i))
		h.addNode(id)
		for range perNode {
			names = append(names, id)
		}
	}
	_, tasks := h.addService("web", names...)
	addr := h.addr(h.leader().ID)
	var clients []*testNode
	for i := range nodes {
		n := h.newTestNode("worker-" + string(rune('a'+i)))
		if err := n.open(addr); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, n)
	}
	for _, ids := range tasks {
		all = append(all, ids...)
	}
	h.waitNodeState("worker-t", state.NodeStateReady, waitTimeout)
	before := h.opCount(state.OpTaskStatus)
	writesBefore := h.writes.Load()

	// Every node walks each of its tasks through five states, one report
	// per state per task, all nodes at once.
	states := []state.TaskState{state.TaskStateAccepted, state.TaskStatePreparing, state.TaskStateReady, state.TaskStateStarting, state.TaskStateRunning}
	start := time.Now()
	var wg sync.WaitGroup
	reports := 0
	for _, n := range clients {
		ids := tasks[n.id]
		reports += len(ids) * len(states)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, st := range states {
				for _, id := range ids {
					err := n.client.ReportStatus(context.Background(), protocol.StatusRequest{SessionID: n.session, Updates: []state.TaskStatusUpdate{
						{TaskID: id, Status: state.TaskStatus{State: st, Message: st.String(), Timestamp: time.Now()}},
					}})
					if err != nil {
						t.Errorf("report: %v", err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	for _, id := range all {
		if st := h.task(id).Status.State; st != state.TaskStateRunning {
			t.Fatalf("task %s is %v", id, st)
		}
	}
	writes := h.writes.Load() - writesBefore
	ops := h.opCount(state.OpTaskStatus) - before
	t.Logf("%d reports from %d nodes in %v: %d Raft writes (%d OpTaskStatus ops)", reports, nodes, took, writes, ops)
	if writes > int64(reports)/8 {
		t.Fatalf("%d writes for %d reports: not batched", writes, reports)
	}
}

func TestMarkDownAndEngineStatus(t *testing.T) {
	h := newHarness(t, 1, time.Second, nil)
	h.addNode("worker-a")
	addr := h.addr(h.leader().ID)
	n := h.newTestNode("worker-a")
	if err := n.open(addr); err != nil {
		t.Fatal(err)
	}
	h.waitNodeState("worker-a", state.NodeStateReady, waitTimeout)

	// The agent says its engine is gone, then back.
	ctx := context.Background()
	if _, err := n.client.Heartbeat(ctx, protocol.HeartbeatRequest{SessionID: n.session, EngineError: "docker: connection refused"}); err != nil {
		t.Fatal(err)
	}
	down := h.waitNodeState("worker-a", state.NodeStateDown, waitTimeout)
	if down.Status.Message != "docker: connection refused" {
		t.Fatalf("message %q", down.Status.Message)
	}
	if _, err := n.client.Heartbeat(ctx, protocol.HeartbeatRequest{SessionID: n.session}); err != nil {
		t.Fatal(err)
	}
	h.waitNodeState("worker-a", state.NodeStateReady, waitTimeout)

	// Gossip confirms a failure.
	d := h.manager(h.leader().ID).d
	if err := d.MarkDown("worker-a", "unreachable by gossip"); err != nil {
		t.Fatal(err)
	}
	down = h.waitNodeState("worker-a", state.NodeStateDown, waitTimeout)
	if down.Status.Message != "unreachable by gossip" {
		t.Fatalf("message %q", down.Status.Message)
	}
	if err := d.MarkDown("nope", "x"); !errors.Is(err, dispatcher.ErrUnknownNode) {
		t.Fatalf("MarkDown of an unknown node: %v", err)
	}
	// The session was ended; a new one makes the node READY again.
	if err := n.open(addr); err != nil {
		t.Fatal(err)
	}
	h.waitNodeState("worker-a", state.NodeStateReady, waitTimeout)
	for _, m := range h.c.Members {
		if m.Node != nil && !m.Node.IsLeader() {
			if err := h.manager(m.ID).d.MarkDown("worker-a", "x"); !errors.Is(err, dispatcher.ErrNotLeader) {
				t.Fatalf("MarkDown on a follower: %v", err)
			}
		}
	}
}

func TestLeaderChangeGivesNodesAGrace(t *testing.T) {
	h := newHarness(t, 3, 200*time.Millisecond, func(c *dispatcher.Config) {
		c.LeaderChangeGrace = 1500 * time.Millisecond
	})
	h.addNode("worker-a")
	h.addNode("worker-b")
	old := h.leader()
	a, b := h.newTestNode("worker-a"), h.newTestNode("worker-b")
	for _, n := range []*testNode{a, b} {
		if err := n.open(h.addr(old.ID)); err != nil {
			t.Fatal(err)
		}
	}
	h.waitNodeState("worker-a", state.NodeStateReady, waitTimeout)
	h.waitNodeState("worker-b", state.NodeStateReady, waitTimeout)

	h.kill(old)
	killed := time.Now()
	leader := h.c.Leader(waitTimeout)
	h.waitServing(leader)
	elected := time.Since(killed)
	// A reconnects to the new leader at once; B never does.
	if err := a.open(h.addr(leader.ID)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.heartbeats(ctx)
	time.Sleep(800 * time.Millisecond) // past B's normal grace of 600ms
	if st := h.node("worker-b").Status.State; st != state.NodeStateReady {
		t.Fatalf("B is %s before the leader change grace", st)
	}
	down := h.waitNodeState("worker-b", state.NodeStateDown, waitTimeout)
	t.Logf("new leader serving %v after the old one died; B DOWN %v after that", elected, time.Since(killed)-elected)
	if down.Status.Message != dispatcher.MessageHeartbeatFailure {
		t.Fatalf("message %q", down.Status.Message)
	}
	if st := h.node("worker-a").Status.State; st != state.NodeStateReady {
		t.Fatalf("A is %s", st)
	}
}

func TestLogSubscriptions(t *testing.T) {
	h := newHarness(t, 1, time.Second, nil)
	h.addNode("worker-a")
	h.addNode("worker-b")
	h.addNode("worker-c")
	svc, tasks := h.addService("web", "worker-a", "worker-b", "worker-c")
	addr := h.addr(h.leader().ID)
	d := h.manager(h.leader().ID).d
	a, b := h.newTestNode("worker-a"), h.newTestNode("worker-b")
	for _, n := range []*testNode{a, b} {
		if err := n.open(addr); err != nil {
			t.Fatal(err)
		}
	}
	// A publishes three lines; B fails half way (its stream breaks); C is
	// not connected.
	publish := func(n *testNode, lines int, complete bool) {
		sub := n.next(protocol.MessageLogs, waitTimeout).Logs
		var msgs []protocol.LogMessage
		for i := range lines {
			msgs = append(msgs, protocol.LogMessage{
				Context: protocol.LogContext{ServiceID: svc, TaskID: tasks[n.id][0], NodeID: "forged"},
				Stream:  "stdout", Text: n.id + " line " + string(rune('0'+i)), Timestamp: time.Now(),
			})
		}
		body := `{"messages":` + mustJSON(t, msgs) + "}\n"
		if complete {
			body += `{"done":true}` + "\n"
		}
		if err := n.client.PublishLogs(context.Background(), sub.ID, strings.NewReader(body)); err != nil {
			t.Errorf("publish: %v", err)
		}
	}
	ch, err := d.SubscribeLogs(context.Background(), dispatcher.LogSelector{ServiceIDs: []string{svc}}, dispatcher.LogOptions{Tail: 10})
	if err != nil {
		t.Fatal(err)
	}
	go publish(a, 3, true)
	go publish(b, 1, false)
	var lines, errs []string
	for m := range ch {
		if m.Err != "" {
			errs = append(errs, m.Context.NodeID+": "+m.Err)
			continue
		}
		if m.Context.NodeID == "forged" {
			t.Fatalf("node ID not set by the dispatcher: %+v", m)
		}
		lines = append(lines, m.Text)
	}
	slices.Sort(lines)
	slices.Sort(errs)
	t.Logf("lines %q, errors %q", lines, errs)
	if !slices.Equal(lines, []string{"worker-a line 0", "worker-a line 1", "worker-a line 2", "worker-b line 0"}) {
		t.Fatalf("lines %q", lines)
	}
	if len(errs) != 2 || !strings.HasPrefix(errs[0], "worker-b: ") || !strings.Contains(errs[1], "worker-c is not connected") {
		t.Fatalf("errors %q", errs)
	}

	// Follow: lines come until the subscriber cancels, then the channel
	// closes and A is told to stop.
	ctx, cancel := context.WithCancel(context.Background())
	ch, err = d.SubscribeLogs(ctx, dispatcher.LogSelector{TaskIDs: []string{tasks["worker-a"][0]}}, dispatcher.LogOptions{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	sub := a.next(protocol.MessageLogs, waitTimeout).Logs
	if !sub.Options.Follow {
		t.Fatalf("subscription %+v", sub)
	}
	pr, pw := ioPipe()
	published := make(chan error, 1)
	go func() { published <- a.client.PublishLogs(context.Background(), sub.ID, pr) }()
	for i := range 3 {
		_, _ = pw.Write([]byte(`{"messages":[{"context":{"task_id":"` + tasks["worker-a"][0] + `"},"text":"f` + string(rune('0'+i)) + `"}]}` + "\n"))
		m := <-ch
		if m.Text != "f"+string(rune('0'+i)) {
			t.Fatalf("follow line %d: %+v", i, m)
		}
	}
	cancel()
	for range ch {
	}
	if stop := a.next(protocol.MessageLogs, waitTimeout).Logs; !stop.Close || stop.ID != sub.ID {
		t.Fatalf("stop message %+v", stop)
	}
	_, _ = pw.Write([]byte(`{"messages":[{"text":"late"}]}` + "\n"))
	pw.Close()
	if err := <-published; err != nil {
		t.Fatalf("publication after the end: %v", err)
	}
}

func TestIdleSessionOutlivesWriteTimeout(t *testing.T) {
	h := newHarness(t, 1, 100*time.Millisecond, func(c *dispatcher.Config) {
		c.WriteTimeout = 200 * time.Millisecond
	})
	h.addNode("worker-a")
	n := h.newTestNode("worker-a")
	if err := n.open(h.addr(h.leader().ID)); err != nil {
		t.Fatal(err)
	}
	n.next(protocol.MessageAssignments, waitTimeout)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.heartbeats(ctx)
	// Idle for several write timeouts: the stream must stay open.
	time.Sleep(time.Second)
	_, tasks := h.addService("late", "worker-a")
	upd := n.next(protocol.MessageAssignments, waitTimeout).Assignments
	if len(upd.Tasks) != 1 || upd.Tasks[0].ID != tasks["worker-a"][0] {
		t.Fatalf("update after an idle second: %+v", upd)
	}
	if st := h.node("worker-a").Status.State; st != state.NodeStateReady {
		t.Fatalf("node is %s", st)
	}
}

func TestLogsThroughAFollower(t *testing.T) {
	h := newHarness(t, 3, time.Second, nil)
	h.addNode("worker-a")
	svc, tasks := h.addService("web", "worker-a")
	a := h.newTestNode("worker-a")
	if err := a.open(h.addr(h.leader().ID)); err != nil {
		t.Fatal(err)
	}
	var follower *manager
	for _, m := range h.c.Followers() {
		follower = h.manager(m.ID)
	}
	ch, err := follower.d.SubscribeLogs(context.Background(), dispatcher.LogSelector{ServiceIDs: []string{svc}}, dispatcher.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sub := a.next(protocol.MessageLogs, waitTimeout).Logs
	body := `{"messages":[{"context":{"task_id":"` + tasks["worker-a"][0] + `"},"stream":"stdout","text":"hello"}]}` + "\n" + `{"done":true}` + "\n"
	if err := a.client.PublishLogs(context.Background(), sub.ID, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	var got []dispatcher.LogMessage
	for m := range ch {
		got = append(got, m)
	}
	if len(got) != 1 || got[0].Text != "hello" || got[0].Context.NodeID != "worker-a" {
		t.Fatalf("through a follower: %+v", got)
	}
	// Only managers may subscribe on the leader's behalf.
	_, err = protocol.SubscribeLogs(context.Background(), a.client.HTTP, h.addr(h.leader().ID), protocol.LogsRequest{})
	if protocol.StatusCode(err) != http.StatusForbidden {
		t.Fatalf("a worker forwarding a subscription: %v, want 403", err)
	}
}

// TestGossipHoldsAndConfirms checks the gossip hooks: a node that stops
// heartbeating while gossip sees it alive stays up (a stall, a blip), and
// a gossip failure report marks a silent node down at once.
func TestGossipHoldsAndConfirms(t *testing.T) {
	var alive atomic.Bool
	alive.Store(true)
	h := newHarness(t, 1, 100*time.Millisecond, func(c *dispatcher.Config) {
		c.Alive = func(string) bool { return alive.Load() }
		c.HeartbeatHold = 5 * time.Second
	})
	h.addNode("worker-a")
	n := h.newTestNode("worker-a")
	if err := n.open(h.addr(h.leader().ID)); err != nil {
		t.Fatal(err)
	}
	h.waitNodeState("worker-a", state.NodeStateReady, waitTimeout)
	d := h.manager(h.leader().ID).d
	// Heartbeating: a failure report is not confirmed.
	ctx, cancel := context.WithCancel(context.Background())
	go n.heartbeats(ctx)
	time.Sleep(150 * time.Millisecond)
	if down, err := d.ConfirmDown("worker-a", "gossip: node failed"); err != nil || down {
		t.Fatalf("confirm while heartbeating: %v %v", down, err)
	}
	// Silent, but gossip sees it: held up well past the heartbeat grace.
	cancel()
	time.Sleep(time.Second)
	if st := h.node("worker-a").Status.State; st != state.NodeStateReady {
		t.Fatalf("a silent node gossip sees alive is %s after 1 s (grace 300ms)", st)
	}
	// Gossip declares it failed: down at once.
	start := time.Now()
	if down, err := d.ConfirmDown("worker-a", "gossip: node failed"); err != nil || !down {
		t.Fatalf("confirm of a silent node: %v %v", down, err)
	}
	st := h.waitNodeState("worker-a", state.NodeStateDown, waitTimeout)
	t.Logf("down %v after the gossip report: %q", time.Since(start).Round(time.Millisecond), st.Status.Message)
}
