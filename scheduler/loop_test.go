package scheduler

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// Tests of the loop on a store written directly (one Apply per command),
// most with a fake clock so that the debounce and the backoff are exact.
// scheduler_test.go runs the scheduler on Raft clusters.

// local is a store, a proposer that applies to it, and a running Scheduler.
type local struct {
	*driver
	t       *testing.T
	st      *state.Store
	prop    *directProposer
	clock   *testutil.FakeClock // nil with the real clock
	metrics *recordedPasses
	sched   *Scheduler
	done    chan error
}

func newLocal(t *testing.T, fake bool) *local {
	st := state.NewStore()
	l := &local{t: t, st: st, prop: &directProposer{store: st}, metrics: &recordedPasses{}}
	now := time.Now
	cfg := DefaultConfig()
	if fake {
		l.clock = testutil.NewFakeClockAt(t0)
		cfg.Clock = l.clock
		now = l.clock.Now
	}
	l.driver = &driver{
		t: t,
		propose: func(_ context.Context, cmd *state.Command) (state.Results, error) {
			// The test's own writes never fail and are not counted.
			l.prop.mu.Lock()
			defer l.prop.mu.Unlock()
			return st.Apply(state.Entry{Index: st.Index() + 1, Cmd: cmd})[0], nil
		},
		store: func() *state.Store { return st },
		now:   now,
	}
	cfg.Logger = testLogger(t, slog.LevelDebug)
	cfg.Metrics = l.metrics
	l.start(cfg)
	return l
}

func (l *local) start(cfg Config) {
	l.sched = New(l.st, l.prop, cfg)
	done := make(chan error, 1)
	l.done = done
	go func() { done <- l.sched.Run(context.Background()) }()
	l.t.Cleanup(l.stop)
}

func (l *local) stop() {
	l.sched.Stop()
	if err := <-l.done; err != nil {
		l.t.Errorf("Run: %v", err)
	}
	l.done = make(chan error, 1)
	l.done <- nil // later stops are no-ops
}

// waitTimer waits until the loop has armed a timer for at, or for any time
// if at is zero, and returns it.
func (l *local) waitTimer(at time.Time) time.Time {
	l.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		next := l.clock.Next()
		if !next.IsZero() && (at.IsZero() || next.Equal(at)) {
			return next
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("no timer armed for %v (next: %v)", at.Sub(t0), next.Sub(t0))
		}
		time.Sleep(time.Millisecond)
	}
}

// tick waits for the loop to arm its timer and moves the clock to it.
func (l *local) tick() {
	l.t.Helper()
	next := l.waitTimer(time.Time{})
	l.clock.Advance(next.Sub(l.clock.Now()))
}

// waitPasses waits until the scheduler has made n passes.
func (l *local) waitPasses(n int) []PassStats {
	l.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		if p := l.metrics.all(); len(p) >= n {
			return p
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("waiting for pass %d: %d passes", n, len(l.metrics.all()))
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLoopDebounceGathersChangesIntoOnePass(t *testing.T) {
	l := newLocal(t, true)
	l.addNode(mkNode("n1"))
	s := l.createService(replicatedSpec("web", 100))

	// A write every 10 ms pushes the pass back to 20 ms after the last
	// one, until 200 ms after the first.
	var ids []string
	for i := 0; ; i++ {
		ids = append(ids, l.createTasks(s, 5*i+1, 5)...)
		now := l.clock.Now()
		want := t0.Add(min(now.Sub(t0)+20*time.Millisecond, 200*time.Millisecond))
		l.waitTimer(want)
		if want.Equal(t0.Add(200 * time.Millisecond)) {
			break
		}
		l.clock.Advance(10 * time.Millisecond)
	}
	if len(l.metrics.all()) != 0 {
		t.Fatal("a pass ran before the debounce ended")
	}
	l.clock.Advance(t0.Add(200 * time.Millisecond).Sub(l.clock.Now()))
	l.waitTasks("all assigned", ids, assigned)
	if _, cmds := l.prop.stats(); !slices.Equal(cmds, []int{len(ids)}) {
		t.Fatalf("assignment commands %v, want one of %d", cmds, len(ids))
	}
}

func TestLoopWantBounds(t *testing.T) {
	s := New(state.NewStore(), nil, DefaultConfig())
	tm := newLoop(s)
	if !tm.nextPass().IsZero() {
		t.Fatal("a pass is due with no change")
	}
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	for _, c := range []struct{ at, due int }{{0, 20}, {5, 25}, {150, 170}, {190, 200}, {199, 200}} {
		tm.want(ms(c.at))
		if got := tm.nextPass(); !got.Equal(ms(c.due)) {
			t.Fatalf("change at %d ms: pass at %v, want %d ms", c.at, got.Sub(t0), c.due)
		}
	}
	tm.retryAt = ms(500)
	if got := tm.nextPass(); !got.Equal(ms(500)) {
		t.Fatalf("during a backoff: pass at %v, want 500ms", got.Sub(t0))
	}
}

func TestLoopFailedWriteIsUndoneAndRetriedWithBackoff(t *testing.T) {
	l := newLocal(t, true)
	l.addNode(mkNode("n1", resources(4, gib)))
	s := l.createService(replicatedSpec("db", 2, reserveMemory(512*mib)))
	l.prop.failNext(3, errors.New("no quorum: 1 of 3 managers reachable"))
	ids := l.createTasks(s, 1, 2)

	l.tick() // the first pass fails
	start := l.clock.Now()
	for _, wait := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		// A change during the backoff does not bring the retry forward.
		l.createTasks(l.createService(replicatedSpec("noise"+wait.String(), 1)), 1, 1)
		time.Sleep(20 * time.Millisecond) // for the loop to see it
		l.waitTimer(start.Add(wait))
		l.clock.Advance(wait)
		start = l.clock.Now()
	}
	// The retry placed both: the failed passes' placements were taken
	// back, or the node would look full.
	got := l.waitTasks("assigned after the retries", ids, assigned)
	if m := perNode(got); m["n1"] != 2 {
		t.Fatalf("placements %v", m)
	}
	if attempts, _ := l.prop.stats(); attempts != 4 {
		t.Fatalf("%d writes, want 3 failed and 1 that committed", attempts)
	}
	passes := l.metrics.all()
	if len(passes) != 4 || passes[0].Err == nil || passes[3].Err != nil {
		t.Fatalf("passes %+v", passes)
	}
}

func TestLoopUnplaceableTaskCostsNoWrites(t *testing.T) {
	l := newLocal(t, true)
	l.addNode(mkNode("n1", resources(4, gib)))
	other := l.createService(replicatedSpec("other", 1))
	otherTask := l.createTasks(other, 1, 1)
	l.tick()
	l.waitTasks("other assigned", otherTask, assigned)

	big := l.createService(replicatedSpec("big", 3, reserveMemory(2*gib)))
	ids := l.createTasks(big, 1, 3)
	l.tick()
	const msg = "no suitable node (1 node insufficient memory)"
	before := l.waitTasks("explained", ids, pendingWith(msg))
	attempts, _ := l.prop.stats()

	// Passes run again when the node changes or frees resources, and
	// write nothing while the explanation stays the same.
	l.updateNode("n1", func(n *model.Node) { n.Spec.Labels = map[string]string{"zone": "a"} })
	l.tick()
	l.waitPasses(3)
	l.reportTask(otherTask[0], model.TaskStateRunning)
	l.reportTask(otherTask[0], model.TaskStateComplete)
	l.tick()
	passes := l.waitPasses(4)
	if a, _ := l.prop.stats(); a != attempts {
		t.Fatalf("%d writes after the explanation, want none; passes %+v", a-attempts, passes)
	}
	for _, p := range passes[2:] {
		if p.Unplaceable != 3 || p.Explained != 0 || p.Placed != 0 {
			t.Fatalf("retry pass %+v, want 3 unplaceable and nothing written", p)
		}
	}
	for i, task := range l.waitTasks("still pending", ids, pendingWith(msg)) {
		if task.Version != before[i].Version {
			t.Fatalf("task %s rewritten", task.ID)
		}
	}

	// A node large enough takes them.
	l.addNode(mkNode("n2", resources(8, 8*gib)))
	l.tick()
	got := l.waitTasks("assigned", ids, assigned)
	if m := perNode(got); m["n2"] != 3 {
		t.Fatalf("placements %v", m)
	}
}

func TestLoopSkippedAssignmentIsPlacedAgain(t *testing.T) {
	l := newLocal(t, false)
	l.addNode(mkNode("n1"))
	l.addNode(mkNode("n2"))
	s := l.createService(replicatedSpec("web", 2))

	// n1 goes away between the pass and its write: the store skips the
	// assignment to n1 and the scheduler places that task again.
	var once sync.Once
	l.prop.mu.Lock()
	l.prop.before = func() {
		once.Do(func() {
			l.st.Apply(state.Entry{Index: l.st.Index() + 1, Cmd: state.NewCommand(state.Op{Type: state.OpDeleteNode, ID: "n1"})})
		})
	}
	l.prop.mu.Unlock()
	ids := l.createTasks(s, 1, 2)
	got := l.waitTasks("assigned", ids, assigned)
	if m := perNode(got); m["n2"] != 2 {
		t.Fatalf("placements %v, want both on n2", m)
	}
	if _, cmds := l.prop.stats(); !slices.Equal(cmds, []int{2, 1}) {
		t.Fatalf("assignment commands %v, want [2 1]", cmds)
	}
}

func TestLoopPlacementOnANodeReplacedMeanwhileCounts(t *testing.T) {
	l := newLocal(t, false)
	l.addNode(mkNode("n1"))
	l.addNode(mkNode("n2"))
	s := l.createService(replicatedSpec("web", 4))

	// n1 is removed and joins again between the pass and its write: the
	// store assigns the task to the new n1, which must count it, though
	// the pass counted it on the n1 that left.
	var once sync.Once
	l.prop.mu.Lock()
	l.prop.before = func() {
		once.Do(func() {
			l.st.Apply(state.Entry{Index: l.st.Index() + 1, Cmd: state.NewCommand(state.Op{Type: state.OpDeleteNode, ID: "n1"})})
			l.st.Apply(state.Entry{Index: l.st.Index() + 1, Cmd: state.NewCommand(state.Op{Type: state.OpCreateNode, Node: mkNode("n1")})})
		})
	}
	l.prop.mu.Unlock()
	ids := l.createTasks(s, 1, 2)
	if m := perNode(l.waitTasks("assigned", ids, assigned)); m["n1"] != 1 || m["n2"] != 1 {
		t.Fatalf("placements %v, want one per node", m)
	}
	// Had the new n1 not counted its task, it would take both.
	all := l.waitTasks("assigned", append(ids, l.createTasks(s, 3, 2)...), assigned)
	if m := perNode(all); m["n1"] != 2 || m["n2"] != 2 {
		t.Fatalf("placements %v, want two per node", m)
	}
}

func TestLoopAvoidsNodeWhereTasksFail(t *testing.T) {
	l := newLocal(t, true)
	l.addNode(mkNode("n1"))
	l.addNode(mkNode("n2"))
	s := l.createService(replicatedSpec("crashy", 1))
	place := func(slot int) *model.Task {
		ids := l.createTasks(s, slot, 1)
		l.tick()
		return l.waitTasks("assigned", ids, assigned)[0]
	}
	// Both nodes are empty: ties go to n1, until 5 tasks failed there.
	for slot := 1; slot <= FailureThreshold; slot++ {
		task := place(slot)
		if task.NodeID != "n1" {
			t.Fatalf("task %d on %s, want n1", slot, task.NodeID)
		}
		l.reportTask(task.ID, model.TaskStateFailed)
	}
	if task := place(FailureThreshold + 1); task.NodeID != "n2" {
		t.Fatalf("after %d failures on n1: task on %s, want n2", FailureThreshold, task.NodeID)
	}

	// A new loop (a new leader's) counts the failures it finds in the
	// store.
	l.stop()
	cfg := l.sched.cfg
	l.start(cfg)
	// n2 now runs a task of the service and n1 none: spread alone would
	// pick n1.
	if task := place(FailureThreshold + 2); task.NodeID != "n2" {
		t.Fatalf("after a restart: task on %s, want n2", task.NodeID)
	}
}

func TestLoopResyncRebuildsFromSnapshot(t *testing.T) {
	l := newLocal(t, false)
	l.addNode(mkNode("n1"))

	// Another store's history replaces this one, as a Raft snapshot
	// install does: the watcher must resync.
	other := state.NewStore()
	od := &driver{t: t, store: func() *state.Store { return other }, now: time.Now,
		propose: func(_ context.Context, cmd *state.Command) (state.Results, error) {
			return other.Apply(state.Entry{Index: other.Index() + 1, Cmd: cmd})[0], nil
		}}
	for _, id := range []string{"a", "b", "c"} {
		od.addNode(mkNode(id))
	}
	s := od.createService(replicatedSpec("web", 6))
	ids := od.createTasks(s, 1, 6)
	var buf bytes.Buffer
	if _, err := other.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	l.prop.mu.Lock()
	err := l.st.Restore(&buf)
	l.prop.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	got := l.waitTasks("assigned after the resync", ids, assigned)
	if m := perNode(got); m["a"] != 2 || m["b"] != 2 || m["c"] != 2 {
		t.Fatalf("placements %v", m)
	}
}

func TestRunLifecycle(t *testing.T) {
	st := state.NewStore()
	bad := DefaultConfig()
	bad.Debounce = time.Second
	if err := New(st, &directProposer{store: st}, bad).Run(context.Background()); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Run with debounce > max delay: %v", err)
	}

	cfg := DefaultConfig()
	cfg.Logger = testLogger(t, slog.LevelInfo)
	s := New(st, &directProposer{store: st}, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(waitTimeout)
	for running := false; !running; {
		if time.Now().After(deadline) {
			t.Fatal("Run did not start")
		}
		time.Sleep(time.Millisecond)
		running = s.life.Running()
	}
	if err := s.Run(ctx); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run: %v, want ErrRunning", err)
	}
	cancel() // the end of a leadership
	if err := <-done; err != nil {
		t.Fatalf("Run after its context ended: %v", err)
	}
	go func() { done <- s.Run(context.Background()) }()
	time.Sleep(10 * time.Millisecond)
	s.Stop()
	if err := <-done; err != nil {
		t.Fatalf("Run after Stop: %v", err)
	}
	if err := s.Run(context.Background()); !errors.Is(err, ErrStopped) {
		t.Fatalf("Run after Stop: %v, want ErrStopped", err)
	}
	s.Stop()
}
