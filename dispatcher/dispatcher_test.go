package dispatcher_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
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
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/model"
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
	if node.Node.ID != "worker-a" || node.Node.Role != model.RoleWorker {
		t.Fatalf("node message %+v", node.Node)
	}
	full := n.next(protocol.MessageAssignments, waitTimeout).Assignments
	got := taskIDs(full.Tasks)
	if !full.Full || len(got) != 2 || got[mine[0]] == nil || got[mine[1]] == nil {
		t.Fatalf("full set = %+v, want tasks %v", full, mine)
	}
	if got[mine[0]].DesiredState != model.TaskStateRunning {
		t.Fatalf("desired state %v", got[mine[0]].DesiredState)
	}
	// The session makes the node READY with its description.
	ready := h.waitNodeState("worker-a", model.NodeStateReady, waitTimeout)
	if ready.Description.Hostname != "host-worker-a" || ready.Status.Addr != "127.0.0.1" {
		t.Fatalf("node after session: %+v", ready)
	}

	// The node's own status report is not sent back to it.
	if err := n.client.ReportStatus(context.Background(), protocol.StatusRequest{SessionID: n.session, Updates: []model.TaskStatusUpdate{
		{TaskID: mine[0], Status: model.TaskStatus{State: model.TaskStateAccepted, Message: "accepted"}},
	}}); err != nil {
		t.Fatal(err)
	}
	// A desired state change is.
	h.propose(h.leader(), state.Op{Type: state.OpSetTasksDesired, IDs: []string{mine[0]}, DesiredState: model.TaskStateShutdown})
	upd := n.next(protocol.MessageAssignments, waitTimeout).Assignments
	if upd.Full || len(upd.Tasks) != 1 || upd.Tasks[0].ID != mine[0] || upd.Tasks[0].DesiredState != model.TaskStateShutdown {
		t.Fatalf("update = %+v", upd)
	}
	if upd.Tasks[0].Status.State != model.TaskStateAccepted {
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
	cur.Spec.Availability = model.AvailabilityDrain
	h.propose(h.leader(), state.Op{Type: state.OpUpdateNode, Node: cur, Version: cur.Version.Index})
	if ni := n.next(protocol.MessageNode, waitTimeout).Node; ni.Spec.Availability != model.AvailabilityDrain {
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
	err := a.client.ReportStatus(ctx, protocol.StatusRequest{SessionID: a.session, Updates: []model.TaskStatusUpdate{
		{TaskID: tasks["worker-a"][0], Status: model.TaskStatus{State: model.TaskStateAccepted}},
		{TaskID: tasks["worker-b"][0], Status: model.TaskStatus{State: model.TaskStateFailed, Err: "forged"}},
	}})
	if protocol.StatusCode(err) != http.StatusForbidden {
		t.Fatalf("reporting another node's task: %v, want 403", err)
	}
	if st := h.task(tasks["worker-b"][0]).Status.State; st != model.TaskStateAssigned {
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

// TestHeartbeatExpiryMarksNodeDown drives the dispatcher's clock by hand:
// heartbeats keep a node up for as long as they come, and when they stop
// the node is down the moment its grace (three periods) has passed, not
// a millisecond before.
func TestHeartbeatExpiryMarksNodeDown(t *testing.T) {
	clk := testutil.NewFakeClock()
	h := newHarness(t, 1, 100*time.Millisecond, func(c *dispatcher.Config) { c.Clock = clk })
	h.addNode("worker-a")
	n := h.newTestNode("worker-a")
	if err := n.open(h.addr(h.leader().ID)); err != nil {
		t.Fatal(err)
	}
	if n.period != 100*time.Millisecond {
		t.Fatalf("period %v, want the cluster's 100ms", n.period)
	}
	h.waitNodeState("worker-a", model.NodeStateReady, waitTimeout)
	d := h.manager(h.leader().ID).d
	const grace = 300 * time.Millisecond // GraceMultiplier x the period
	// Each heartbeat moves the deadline a grace on: six of them, each just
	// inside the grace, keep the node up for four graces.
	for range 6 {
		clk.Advance(grace - 10*time.Millisecond)
		n.beat(t)
	}
	// Heartbeats stop while the stream stays open.
	clk.Advance(grace - time.Millisecond)
	wantSessions(t, d, 1, "a millisecond before the grace passed")
	clk.Advance(time.Millisecond)
	wantSessions(t, d, 0, "when the grace passed (the node is down)")
	down := h.waitNodeState("worker-a", model.NodeStateDown, waitTimeout)
	if down.Status.Message != dispatcher.MessageHeartbeatFailure {
		t.Fatalf("message %q", down.Status.Message)
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

// TestClosedSessionMarksNodeDownWithinCloseGrace: a node whose connection
// closes has CloseGrace (1 s), not the heartbeat grace (3 s), to open a new
// session. The dispatcher's clock is driven by hand.
func TestClosedSessionMarksNodeDownWithinCloseGrace(t *testing.T) {
	clk := testutil.NewFakeClock()
	h := newHarness(t, 1, time.Second, func(c *dispatcher.Config) { c.Clock = clk })
	h.addNode("worker-a")
	h.addNode("worker-b")
	addr := h.addr(h.leader().ID)
	d := h.manager(h.leader().ID).d
	sessions := func(want int, what string) {
		t.Helper()
		waitFor(t, waitTimeout, fmt.Sprintf("%d sessions (%s)", want, what), func() bool { return d.Sessions() == want })
	}
	const closeGrace = time.Second

	// A reconnects within the grace: no DOWN.
	a := h.newTestNode("worker-a")
	if err := a.open(addr); err != nil {
		t.Fatal(err)
	}
	h.waitNodeState("worker-a", model.NodeStateReady, waitTimeout)
	a.kill()
	sessions(0, "A's connection closed")
	clk.Advance(closeGrace - time.Millisecond)
	if err := a.open(addr); err != nil {
		t.Fatal(err)
	}
	sessions(1, "A is back")

	// B's process dies: its connection closes.
	b := h.newTestNode("worker-b")
	if err := b.open(addr); err != nil {
		t.Fatal(err)
	}
	h.waitNodeState("worker-b", model.NodeStateReady, waitTimeout)
	b.kill()
	sessions(1, "B's connection closed")
	clk.Advance(closeGrace - time.Millisecond)
	// Were B marked DOWN now, the status batch (50 ms) would have written
	// it by the end of this wait.
	time.Sleep(300 * time.Millisecond)
	if st := h.node("worker-b").Status.State; st != model.NodeStateReady {
		t.Fatalf("B is %s a millisecond before its close grace passed", st)
	}
	clk.Advance(time.Millisecond)
	down := h.waitNodeState("worker-b", model.NodeStateDown, waitTimeout)
	if down.Status.Message != dispatcher.MessageSessionClosed {
		t.Fatalf("message %q, want %q", down.Status.Message, dispatcher.MessageSessionClosed)
	}
	// A's session, opened 1 ms before, is far from its heartbeat grace.
	if st := h.node("worker-a").Status.State; st != model.NodeStateReady {
		t.Fatalf("A, which came back within the grace, is %s", st)
	}
	// B comes back: READY.
	if err := b.open(addr); err != nil {
		t.Fatal(err)
	}
	h.waitNodeState("worker-b", model.NodeStateReady, waitTimeout)
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
	h.waitNodeState("worker-t", model.NodeStateReady, waitTimeout)
	before := h.opCount(state.OpTaskStatus)
	writesBefore := h.writes.Load()

	// Every node walks each of its tasks through five states, one report
	// per state per task, all nodes at once.
	states := []model.TaskState{model.TaskStateAccepted, model.TaskStatePreparing, model.TaskStateReady, model.TaskStateStarting, model.TaskStateRunning}
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
					err := n.client.ReportStatus(context.Background(), protocol.StatusRequest{SessionID: n.session, Updates: []model.TaskStatusUpdate{
						{TaskID: id, Status: model.TaskStatus{State: st, Message: st.String(), Timestamp: time.Now()}},
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
		if st := h.task(id).Status.State; st != model.TaskStateRunning {
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
	h.waitNodeState("worker-a", model.NodeStateReady, waitTimeout)

	// The agent says its engine is gone, then back.
	ctx := context.Background()
	if _, err := n.client.Heartbeat(ctx, protocol.HeartbeatRequest{SessionID: n.session, EngineError: "docker: connection refused"}); err != nil {
		t.Fatal(err)
	}
	down := h.waitNodeState("worker-a", model.NodeStateDown, waitTimeout)
	if down.Status.Message != "docker: connection refused" {
		t.Fatalf("message %q", down.Status.Message)
	}
	if _, err := n.client.Heartbeat(ctx, protocol.HeartbeatRequest{SessionID: n.session}); err != nil {
		t.Fatal(err)
	}
	h.waitNodeState("worker-a", model.NodeStateReady, waitTimeout)

	// Gossip confirms a failure.
	d := h.manager(h.leader().ID).d
	if err := d.MarkDown("worker-a", "unreachable by gossip"); err != nil {
		t.Fatal(err)
	}
	down = h.waitNodeState("worker-a", model.NodeStateDown, waitTimeout)
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
	h.waitNodeState("worker-a", model.NodeStateReady, waitTimeout)
	for _, m := range h.c.Members {
		if m.Node != nil && !m.Node.IsLeader() {
			if err := h.manager(m.ID).d.MarkDown("worker-a", "x"); !errors.Is(err, dispatcher.ErrNotLeader) {
				t.Fatalf("MarkDown on a follower: %v", err)
			}
		}
	}
}

// TestLeaderChangeGivesNodesAGrace: a new leader gives every node the
// leader change grace to reconnect, not the heartbeat grace. The
// dispatchers' clock is driven by hand from the election on.
func TestLeaderChangeGivesNodesAGrace(t *testing.T) {
	clk := testutil.NewFakeClock()
	const period = 200 * time.Millisecond // heartbeat grace 600 ms
	h := newHarness(t, 3, period, func(c *dispatcher.Config) {
		c.Clock = clk
		c.LeaderChangeGrace = 1500 * time.Millisecond // 1.525 s with 5 nodes
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
	h.waitNodeState("worker-a", model.NodeStateReady, waitTimeout)
	h.waitNodeState("worker-b", model.NodeStateReady, waitTimeout)

	h.kill(old)
	leader := h.c.Leader(waitTimeout)
	h.waitServing(leader)
	// A reconnects to the new leader at once and heartbeats; B never does.
	if err := a.open(h.addr(leader.ID)); err != nil {
		t.Fatal(err)
	}
	beat := func() {
		t.Helper()
		clk.Advance(2 * period)
		a.beat(t)
	}
	beat()
	beat() // 800 ms: past B's heartbeat grace, within the leader change grace
	// Were B marked DOWN now, the status batch (50 ms) would have written
	// it by the end of this wait.
	time.Sleep(300 * time.Millisecond)
	if st := h.node("worker-b").Status.State; st != model.NodeStateReady {
		t.Fatalf("B is %s before the leader change grace passed", st)
	}
	beat()
	beat() // 1.6 s: past the leader change grace
	down := h.waitNodeState("worker-b", model.NodeStateDown, waitTimeout)
	if down.Status.Message != dispatcher.MessageHeartbeatFailure {
		t.Fatalf("message %q", down.Status.Message)
	}
	if st := h.node("worker-a").Status.State; st != model.NodeStateReady {
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
	if st := h.node("worker-a").Status.State; st != model.NodeStateReady {
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
// TestGossipHoldsAndConfirms: a silent node that gossip still sees alive
// is held up for at most HeartbeatHold; gossip's failure report, confirmed
// by the silence, takes it down at once. The dispatcher's clock is driven
// by hand.
func TestGossipHoldsAndConfirms(t *testing.T) {
	clk := testutil.NewFakeClock()
	const period, hold = 100 * time.Millisecond, 5 * time.Second
	h := newHarness(t, 1, period, func(c *dispatcher.Config) {
		c.Clock = clk
		c.Alive = func(string) bool { return true }
		c.HeartbeatHold = hold
	})
	d := h.manager(h.leader().ID).d
	var nodes []*testNode
	for _, id := range []string{"worker-a", "worker-b"} {
		h.addNode(id)
		n := h.newTestNode(id)
		if err := n.open(h.addr(h.leader().ID)); err != nil {
			t.Fatal(err)
		}
		h.waitNodeState(id, model.NodeStateReady, waitTimeout)
		nodes = append(nodes, n)
	}
	// Heartbeating: a failure report is not confirmed.
	clk.Advance(period / 2)
	for _, n := range nodes {
		n.beat(t)
	}
	if down, err := d.ConfirmDown("worker-a", "gossip: node failed"); err != nil || down {
		t.Fatalf("confirm while heartbeating: %v %v", down, err)
	}
	// Both fall silent; gossip sees them: held up well past the heartbeat
	// grace (300 ms).
	clk.Advance(time.Second)
	wantSessions(t, d, 2, "1 s into the silence (both held up)")
	// Gossip declares A failed: down at once.
	if down, err := d.ConfirmDown("worker-a", "gossip: node failed"); err != nil || !down {
		t.Fatalf("confirm of a silent node: %v %v", down, err)
	}
	wantSessions(t, d, 1, "after A's confirmed failure")
	a := h.waitNodeState("worker-a", model.NodeStateDown, waitTimeout)
	t.Logf("A down: %q", a.Status.Message)
	// B, which gossip keeps alive, is held until the hold (5 s from its
	// first missed grace, at 350 ms) ends.
	clk.Advance(hold - time.Second)
	wantSessions(t, d, 1, "before the hold ended (B's)")
	clk.Advance(time.Second)
	wantSessions(t, d, 0, "after the hold ended")
	b := h.waitNodeState("worker-b", model.NodeStateDown, waitTimeout)
	if b.Status.Message != dispatcher.MessageHeartbeatFailure {
		t.Fatalf("B's message %q, want %q", b.Status.Message, dispatcher.MessageHeartbeatFailure)
	}
}

// TestSuspectedAndLateNodeIsDownWithoutWaitingForTheHold checks the rule for
// a node cut off the network: a gossip suspicion alone (heartbeats arrive)
// and late heartbeats alone (gossip still reaches it) keep a node up, but
// both together mark it DOWN as unreachable, without waiting for the
// heartbeat hold or for gossip to declare it failed.
func TestSuspectedAndLateNodeIsDownWithoutWaitingForTheHold(t *testing.T) {
	var suspected atomic.Bool
	h := newHarness(t, 1, 100*time.Millisecond, func(c *dispatcher.Config) {
		c.Alive = func(string) bool { return true }
		c.HeartbeatHold = time.Minute
		c.Suspected = func(string) bool { return suspected.Load() }
	})
	h.addNode("worker-a")
	n := h.newTestNode("worker-a")
	if err := n.open(h.addr(h.leader().ID)); err != nil {
		t.Fatal(err)
	}
	h.waitNodeState("worker-a", model.NodeStateReady, waitTimeout)

	// Suspected, but heartbeating: up.
	suspected.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	go n.heartbeats(ctx)
	time.Sleep(time.Second)
	if st := h.node("worker-a").Status.State; st != model.NodeStateReady {
		t.Fatalf("a heartbeating node that gossip suspects is %s", st)
	}
	// Silent, gossip reaches it: held up (10 grace periods here).
	suspected.Store(false)
	cancel()
	time.Sleep(time.Second)
	if st := h.node("worker-a").Status.State; st != model.NodeStateReady {
		t.Fatalf("a silent node that gossip reaches is %s", st)
	}
	// Silent and suspected: down, as unreachable.
	suspected.Store(true)
	st := h.waitNodeState("worker-a", model.NodeStateDown, waitTimeout)
	if st.Status.Message != dispatcher.MessageUnreachable {
		t.Fatalf("down with %q, want %q", st.Status.Message, dispatcher.MessageUnreachable)
	}
}

func TestConfigRefusesASuspectMultiplierAboveTheGrace(t *testing.T) {
	for _, tc := range []struct {
		mult int
		ok   bool
	}{{0, true}, {2, true}, {3, true}, {4, false}, {-1, false}} {
		c := dispatcher.DefaultConfig()
		c.Identify = dispatcher.PeerIdentity
		c.SuspectMultiplier = tc.mult
		if err := c.Validate(); (err == nil) != tc.ok {
			t.Errorf("SuspectMultiplier %d: Validate() = %v, want ok=%v", tc.mult, err, tc.ok)
		}
	}
}
