package eventlog_test

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"

	"github.com/shoal-dev/shoal/eventlog"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// store applies commands at increasing indexes and times, as the FSM does.
type store struct {
	t     *testing.T
	s     *state.Store
	index uint64
	start time.Time
}

func newStore(t *testing.T) *store {
	return &store{t: t, s: state.NewStore(), start: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)}
}

// apply applies ops at the next index, one second after the previous.
func (s *store) apply(ops ...state.Op) time.Time {
	s.t.Helper()
	s.index++
	at := s.start.Add(time.Duration(s.index) * time.Second)
	res := s.s.Apply(state.Entry{Index: s.index, Cmd: &state.Command{Time: at, Ops: ops}})
	if err := res[0].Err(); err != nil {
		s.t.Fatalf("apply %s: %v", ops[0].Type, err)
	}
	return at
}

func (s *store) service(id string) *model.Service {
	var out *model.Service
	_ = s.s.View(func(tx state.ReadTx) error { out = tx.GetService(id).Copy(); return nil })
	return out
}

func (s *store) node(id string) *model.Node {
	var out *model.Node
	_ = s.s.View(func(tx state.ReadTx) error { out = tx.GetNode(id).Copy(); return nil })
	return out
}

func startLog(t testing.TB, s *store, cfg eventlog.Config) *eventlog.Log {
	l := eventlog.New(s.s, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return l
}

func next(t *testing.T, sub *eventlog.Subscription) events.Message {
	t.Helper()
	select {
	case m, ok := <-sub.C():
		if !ok {
			t.Fatalf("subscription ended: %v", sub.Err())
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	return events.Message{}
}

// TestMessagesAreDockers: each change of a node or a service is one
// event as Docker's daemon makes it, with the command's time; tasks and
// the cluster make none.
func TestMessagesAreDockers(t *testing.T) {
	s := newStore(t)
	l := startLog(t, s, eventlog.DefaultConfig())
	_, sub := l.Subscribe(time.Time{})
	defer sub.Close()

	svc := &model.Service{ID: "svc1", Spec: model.ServiceSpec{Annotations: model.Annotations{Name: "web"},
		Task: model.TaskSpec{Container: model.ContainerSpec{Image: "nginx:1"}},
		Mode: model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: 1}}}}
	node := &model.Node{ID: "node1", Spec: model.NodeSpec{Availability: model.AvailabilityActive, DesiredRole: model.RoleWorker},
		Role: model.RoleWorker, Description: model.NodeDescription{Hostname: "host-1"}}
	steps := []struct {
		name  string
		op    func() state.Op
		typ   events.Type
		act   events.Action
		id    string
		attrs map[string]string
	}{
		{"create service", func() state.Op { return state.Op{Type: state.OpCreateService, Service: svc} },
			events.ServiceEventType, events.ActionCreate, "svc1", map[string]string{"name": "web"}},
		{"scale", func() state.Op {
			n := s.service("svc1")
			n.Spec.Mode.Replicated.Replicas = 3
			return state.Op{Type: state.OpUpdateService, Service: n, Version: n.Version.Index}
		}, events.ServiceEventType, events.ActionUpdate, "svc1", map[string]string{"name": "web", "replicas.old": "1", "replicas.new": "3"}},
		{"new image", func() state.Op {
			n := s.service("svc1")
			n.Spec.Task.Container.Image = "nginx:2"
			return state.Op{Type: state.OpUpdateService, Service: n, Version: n.Version.Index}
		}, events.ServiceEventType, events.ActionUpdate, "svc1", map[string]string{"name": "web", "image.old": "nginx:1", "image.new": "nginx:2"}},
		{"update state", func() state.Op {
			n := s.service("svc1")
			return state.Op{Type: state.OpServiceUpdateStatus, ID: "svc1", SpecVersion: n.SpecVersion.Index,
				UpdateStatus: &model.UpdateStatus{State: model.UpdateStateUpdating}}
		}, events.ServiceEventType, events.ActionUpdate, "svc1", map[string]string{"name": "web", "updatestate.new": "updating"}},
		{"create node", func() state.Op { return state.Op{Type: state.OpCreateNode, Node: node} },
			events.NodeEventType, events.ActionCreate, "node1", map[string]string{"name": "host-1"}},
		{"drain", func() state.Op {
			n := s.node("node1")
			n.Spec.Availability = model.AvailabilityDrain
			return state.Op{Type: state.OpUpdateNode, Node: n, Version: n.Version.Index}
		}, events.NodeEventType, events.ActionUpdate, "node1", map[string]string{"name": "host-1", "availability.old": "active", "availability.new": "drain"}},
		{"node ready", func() state.Op {
			return state.Op{Type: state.OpNodeStatus, NodeStatuses: []state.NodeStatusUpdate{{ID: "node1", Status: model.NodeStatus{State: model.NodeStateReady}}}}
		}, events.NodeEventType, events.ActionUpdate, "node1", map[string]string{"name": "host-1", "state.old": "", "state.new": "ready"}},
		{"tasks make none, the removal one", func() state.Op {
			s.apply(state.Op{Type: state.OpCreateTasks, ID: "svc1", SpecVersion: s.service("svc1").SpecVersion.Index,
				NewTasks: []state.NewTask{{ID: "t1", Slot: 1}}})
			return state.Op{Type: state.OpDeleteService, ID: "svc1"}
		}, events.ServiceEventType, events.ActionRemove, "svc1", map[string]string{"name": "web"}},
	}
	for _, st := range steps {
		at := s.apply(st.op())
		m := next(t, sub)
		if m.Type != st.typ || m.Action != st.act || m.Actor.ID != st.id || !maps.Equal(m.Actor.Attributes, st.attrs) ||
			m.Scope != "swarm" || m.TimeNano != at.UnixNano() || m.Time != at.Unix() {
			t.Errorf("%s: got %+v at %d, want %s %s %s %v at %d", st.name, m, m.TimeNano, st.typ, st.act, st.id, st.attrs, at.UnixNano())
		}
	}
	select {
	case m := <-sub.C():
		t.Errorf("unexpected event %+v", m)
	default:
	}
}

// TestSinceReplaysTheBoundedHistory: a subscription from a time gets the
// history from then on and the live events after it, each once; the
// history keeps HistorySize events and none older than HistoryAge.
func TestSinceReplaysTheBoundedHistory(t *testing.T) {
	s := newStore(t)
	now := s.start.Add(time.Minute)
	l := startLog(t, s, eventlog.Config{HistorySize: 5, HistoryAge: 30 * time.Minute, Clock: func() time.Time { return now }})
	_, live := l.Subscribe(time.Time{})
	var times []time.Time
	for i := range 8 {
		times = append(times, s.apply(state.Op{Type: state.OpCreateNode, Node: &model.Node{ID: string(rune('a' + i))}}))
	}
	for range 8 {
		next(t, live)
	}
	tests := []struct {
		since time.Time
		want  int
	}{
		{time.Time{}, 0},
		{times[0], 5}, // only 5 kept
		{times[5], 3},
		{times[7].Add(time.Nanosecond), 0},
	}
	for _, tt := range tests {
		past, sub := l.Subscribe(tt.since)
		sub.Close()
		if len(past) != tt.want {
			t.Errorf("since %v: %d events, want %d", tt.since, len(past), tt.want)
		}
	}
	// Past the age bound, everything is gone.
	now = now.Add(2 * time.Hour)
	if past, sub := l.Subscribe(times[0]); len(past) != 0 {
		t.Errorf("%d events older than HistoryAge replayed", len(past))
	} else {
		sub.Close()
	}
	// History then live, without a gap or a duplicate.
	past, sub := l.Subscribe(times[7])
	defer sub.Close()
	if len(past) != 0 {
		t.Fatalf("aged history replayed: %d", len(past))
	}
	s.apply(state.Op{Type: state.OpCreateNode, Node: &model.Node{ID: "z"}})
	if m := next(t, sub); m.Actor.ID != "z" {
		t.Fatalf("live event %+v", m)
	}
}

// TestSlowReaderIsCutOff: a reader that stops reading loses its
// subscription, not the others their events.
func TestSlowReaderIsCutOff(t *testing.T) {
	s := newStore(t)
	l := startLog(t, s, eventlog.Config{SubscriberBuffer: 2})
	_, slow := l.Subscribe(time.Time{})
	_, fast := l.Subscribe(time.Time{})
	for i := range 4 {
		s.apply(state.Op{Type: state.OpCreateNode, Node: &model.Node{ID: string(rune('a' + i))}})
		next(t, fast)
	}
	for range slow.C() {
	}
	if !errors.Is(slow.Err(), eventlog.ErrSlow) {
		t.Fatalf("slow reader ended with %v", slow.Err())
	}
	fast.Close()
	if !errors.Is(fast.Err(), eventlog.ErrClosed) {
		t.Fatalf("closed reader: %v", fast.Err())
	}
}

// TestWaitForFollowsTheStore: WaitFor returns once the log turned every
// change up to the index into events, so that a replay right after a
// write has it.
func TestWaitForFollowsTheStore(t *testing.T) {
	s := newStore(t)
	l := eventlog.New(s.s, eventlog.Config{Clock: func() time.Time { return s.start }})
	s.apply(state.Op{Type: state.OpCreateNode, Node: &model.Node{ID: "a"}})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.WaitFor(ctx, s.s.Index()); err == nil {
		t.Fatal("WaitFor returned before Run took the change")
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(runCtx) }()
	defer func() { stop(); <-done }()
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	if err := l.WaitFor(wctx, s.s.Index()); err != nil {
		t.Fatal(err)
	}
	if past, sub := l.Subscribe(s.start); len(past) != 1 {
		t.Fatalf("history after WaitFor: %d events", len(past))
	} else {
		sub.Close()
	}
}
