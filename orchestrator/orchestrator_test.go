package orchestrator_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/orchestrator"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/state/raft/rafttest"
)

// localProposer applies commands to a store directly, at increasing
// indexes, as a single manager's Raft log would. It serves the lifecycle
// test, which is about Run and Stop, not about replication.
type localProposer struct {
	mu    sync.Mutex
	store *state.Store
}

func (p *localProposer) Propose(_ context.Context, cmd *state.Command) (state.Results, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.store.Apply(state.Entry{Index: p.store.Index() + 1, Cmd: cmd})[0], nil
}

func TestRunStopLifecycle(t *testing.T) {
	store := state.NewStore()
	prop := &localProposer{store: store}
	cfg := orchestrator.DefaultConfig()
	cfg.Clock = testutil.NewFakeClock()
	cfg.Logger = testLogger(t, "local")
	o := orchestrator.New(store, prop, cfg)

	run := func(ctx context.Context) chan error {
		done := make(chan error, 1)
		go func() { done <- o.Run(ctx) }()
		return done
	}
	waitTasks := func(n int) {
		t.Helper()
		deadline := time.Now().Add(waitTimeout)
		for time.Now().Before(deadline) {
			var got int
			_ = store.View(func(tx state.ReadTx) error {
				tasks, _ := tx.FindTasks(state.All)
				got = len(tasks)
				return nil
			})
			if got == n {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("no %d tasks", n)
	}
	result := func(done chan error) error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(waitTimeout):
			t.Fatal("Run did not return")
			return nil
		}
	}

	// A leadership: Run until its context ends.
	ctx, cancel := context.WithCancel(context.Background())
	term1 := run(ctx)
	spec := replicated("web", 2)
	if _, err := prop.Propose(ctx, state.NewCommand(state.Op{Type: state.OpCreateService, Service: &model.Service{ID: "svc", Spec: spec}})); err != nil {
		t.Fatal(err)
	}
	waitTasks(2)
	if err := o.Run(ctx); !errors.Is(err, orchestrator.ErrRunning) {
		t.Fatalf("second Run: %v, want ErrRunning", err)
	}
	cancel()
	if err := result(term1); err != nil {
		t.Fatalf("Run after its context ended: %v", err)
	}

	// The next leadership starts over from the store; Stop ends it for good.
	term2 := run(context.Background())
	spec.Mode.Replicated.Replicas = 3
	var version uint64
	_ = store.View(func(tx state.ReadTx) error { version = tx.GetService("svc").Version.Index; return nil })
	if _, err := prop.Propose(ctx, state.NewCommand(state.Op{Type: state.OpUpdateService, Version: version,
		Service: &model.Service{ID: "svc", Spec: spec}})); err != nil {
		t.Fatal(err)
	}
	waitTasks(3)
	o.Stop()
	if err := result(term2); err != nil {
		t.Fatalf("Run after Stop: %v", err)
	}
	if err := o.Run(context.Background()); !errors.Is(err, orchestrator.ErrStopped) {
		t.Fatalf("Run after Stop: %v, want ErrStopped", err)
	}
	o.Stop() // idempotent
}

// racingProposer lets an API write win the race against the orchestrator's
// first task creation, and counts the orchestrator's writes.
type racingProposer struct {
	m      *rafttest.Member
	clock  *testutil.FakeClock
	mu     sync.Mutex
	raced  bool
	writes int
	errs   []error
}

func (p *racingProposer) Propose(ctx context.Context, cmd *state.Command) (state.Results, error) {
	p.mu.Lock()
	p.writes++
	race := !p.raced && slices.ContainsFunc(cmd.Ops, func(op state.Op) bool { return op.Type == state.OpCreateTasks })
	p.raced = p.raced || race
	p.mu.Unlock()
	if race {
		// The user updates the image between the orchestrator's read and
		// its write: the write is refused with ErrConflict.
		var s *model.Service
		_ = p.m.Store.View(func(tx state.ReadTx) error {
			s = tx.GetService(cmd.Ops[0].ID).Copy()
			return nil
		})
		version := s.Version.Index
		s.Spec.Task.Container.Image = "app:2"
		if _, err := p.m.Node.Propose(ctx, &state.Command{Time: p.clock.Now(), Ops: []state.Op{{Type: state.OpUpdateService, Service: s, Version: version}}}); err != nil {
			return nil, err
		}
	}
	res, err := p.m.Node.Propose(ctx, cmd)
	if err == nil && res.Err() != nil {
		p.mu.Lock()
		p.errs = append(p.errs, res.Err())
		p.mu.Unlock()
	}
	return res, err
}

func TestConflictIsRetriedOnTheNextChange(t *testing.T) {
	var prop *racingProposer
	w := newWorldWith(t, 1, func(m *rafttest.Member) state.Proposer {
		prop = &racingProposer{m: m}
		return prop
	})
	prop.clock = w.clock
	w.addNode("n1")
	id := w.createService(replicated("web", 3))
	s := w.waitFor(id, "3 tasks of the new spec running", converged(3))
	if s.image() != "app:2" {
		t.Fatalf("image %s", s.image())
	}
	w.settle()
	prop.mu.Lock()
	defer prop.mu.Unlock()
	if len(prop.errs) != 1 || !errors.Is(prop.errs[0], state.ErrConflict) {
		t.Fatalf("refused writes %v, want one conflict", prop.errs)
	}
	// One refused write, one that creates the tasks: nothing spins.
	if prop.writes > 4 {
		t.Fatalf("%d writes for one service of 3 replicas", prop.writes)
	}
	if s.status() != "" {
		t.Fatalf("update status %q: tasks were created from the new spec, nothing to update", s.status())
	}
}

// flakyProposer fails its first writes as a whole, as a proposer does while
// the cluster has no quorum.
type flakyProposer struct {
	m        *rafttest.Member
	mu       sync.Mutex
	failures int // writes left to fail
	attempts int
}

func (p *flakyProposer) Propose(ctx context.Context, cmd *state.Command) (state.Results, error) {
	p.mu.Lock()
	p.attempts++
	fail := p.failures > 0
	if fail {
		p.failures--
	}
	p.mu.Unlock()
	if fail {
		return nil, errors.New("no quorum: 1 of 3 managers reachable")
	}
	return p.m.Node.Propose(ctx, cmd)
}

func (p *flakyProposer) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.attempts
}

func TestFailedWritesBackOff(t *testing.T) {
	var prop *flakyProposer
	w := newWorldWith(t, 1, func(m *rafttest.Member) state.Proposer {
		prop = &flakyProposer{m: m}
		return prop
	})
	w.addNode("n1")
	prop.mu.Lock()
	prop.failures, prop.attempts = 2, 0
	prop.mu.Unlock()
	id := w.createService(replicated("web", 2))

	// Each failure doubles the wait, on the orchestrator's clock: 100 ms,
	// then 200 ms. Nothing is retried while the clock stands still.
	expect := func(n int) {
		t.Helper()
		deadline := time.Now().Add(waitTimeout)
		for prop.count() < n && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		if got := prop.count(); got != n {
			t.Fatalf("%d write attempts, want %d", got, n)
		}
	}
	expect(1)
	w.clock.Advance(100 * time.Millisecond)
	expect(2)
	w.clock.Advance(100 * time.Millisecond)
	expect(2)
	w.clock.Advance(100 * time.Millisecond)
	w.waitFor(id, "running after the failures", converged(2))
}
