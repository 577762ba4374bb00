package orchestrator

import (
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/state"
)

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// task builds a task; age is how long before t0 it was created, ended how
// long before t0 its status was written.
func task(id string, spec uint64, desired, observed state.TaskState, age, ended time.Duration) *state.Task {
	t := &state.Task{ID: id, NodeID: "n1", SpecVersion: state.Version{Index: spec},
		DesiredState: desired, Status: state.TaskStatus{State: observed, Timestamp: t0.Add(-ended)}}
	t.CreatedAt = t0.Add(-age)
	t.Spec.Container.Image = "app:1"
	return t
}

func testRound() *round {
	o := &Orchestrator{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return &round{term: newTerm(o), log: o.log, now: t0, stamp: t0}
}

func TestDecideRestart(t *testing.T) {
	svc := &state.Service{ID: "s", SpecVersion: state.Version{Index: 7}}
	svc.Spec.Task.Container.Image = "app:1"
	const (
		running  = state.TaskStateRunning
		shutdown = state.TaskStateShutdown
		failed   = state.TaskStateFailed
		complete = state.TaskStateComplete
		rejected = state.TaskStateRejected
	)
	withPolicy := func(t *state.Task, p state.RestartPolicy) *state.Task { t.Spec.Restart = p; return t }
	withImage := func(t *state.Task, image string) *state.Task { t.Spec.Container.Image = image; return t }
	zero := time.Duration(0)
	tests := []struct {
		name   string
		slot   slot
		action restartAction
		at     time.Time
	}{
		{"empty slot", slot{}, restartNow, time.Time{}},
		{"lost with its node", slot{lost: []*state.Task{task("a", 7, running, running, time.Hour, time.Hour)}}, restartNow, time.Time{}},
		{"shut down on request", slot{dead: []*state.Task{task("a", 7, shutdown, shutdown, time.Hour, time.Second)}}, restartNow, time.Time{}},
		{"failed 2s ago: default 5s delay", slot{ended: []*state.Task{task("a", 7, running, failed, time.Hour, 2*time.Second)}}, restartLater, t0.Add(3 * time.Second)},
		{"failed 6s ago", slot{ended: []*state.Task{task("a", 7, running, failed, time.Hour, 6*time.Second)}}, restartNow, time.Time{}},
		{"shut down unasked", slot{ended: []*state.Task{task("a", 7, running, shutdown, time.Hour, time.Minute)}}, restartNow, time.Time{}},
		{"older spec ended: no delay", slot{ended: []*state.Task{withImage(task("a", 6, running, failed, time.Hour, 0), "app:0")}}, restartNow, time.Time{}},
		{"condition none", slot{ended: []*state.Task{withPolicy(task("a", 7, running, failed, time.Hour, time.Minute),
			state.RestartPolicy{Condition: state.RestartOnNone})}}, restartNever, time.Time{}},
		{"on-failure, completed", slot{ended: []*state.Task{withPolicy(task("a", 7, running, complete, time.Hour, time.Minute),
			state.RestartPolicy{Condition: state.RestartOnFailure})}}, restartNever, time.Time{}},
		{"on-failure, rejected", slot{ended: []*state.Task{withPolicy(task("a", 7, running, rejected, time.Hour, time.Minute),
			state.RestartPolicy{Condition: state.RestartOnFailure})}}, restartNow, time.Time{}},
		{"max attempts reached", slot{
			ended: []*state.Task{withPolicy(task("c", 7, running, failed, time.Minute, 0), state.RestartPolicy{MaxAttempts: 2, Delay: &zero})},
			dead:  []*state.Task{task("a", 7, shutdown, failed, 3*time.Minute, 3*time.Minute), task("b", 7, shutdown, failed, 2*time.Minute, 2*time.Minute)},
		}, restartNever, time.Time{}},
		{"max attempts, one out of the window", slot{
			ended: []*state.Task{withPolicy(task("c", 7, running, failed, time.Minute, 0), state.RestartPolicy{MaxAttempts: 2, Window: 150 * time.Second, Delay: &zero})},
			dead:  []*state.Task{task("a", 7, shutdown, failed, 3*time.Minute, 3*time.Minute), task("b", 7, shutdown, failed, 2*time.Minute, 2*time.Minute)},
		}, restartNow, time.Time{}},
		{"max attempts, earlier spec's ends do not count", slot{
			ended: []*state.Task{withPolicy(task("c", 7, running, failed, time.Minute, 0), state.RestartPolicy{MaxAttempts: 1, Delay: &zero})},
			dead:  []*state.Task{task("a", 6, shutdown, failed, 3*time.Minute, 3*time.Minute)},
		}, restartNow, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testRound().decideRestart(svc, &tt.slot)
			if d.action != tt.action || !d.at.Equal(tt.at) {
				t.Fatalf("decision %v at %v (%s), want %v at %v", d.action, d.at, d.reason, tt.action, tt.at)
			}
		})
	}
}

func TestAttemptsOutliveTrimmedHistory(t *testing.T) {
	svc := &state.Service{ID: "s", SpecVersion: state.Version{Index: 7}}
	r := testRound()
	policy := state.RestartPolicy{MaxAttempts: 2}
	first := task("a", 7, shutdown(), state.TaskStateFailed, 3*time.Minute, 3*time.Minute)
	second := task("b", 7, shutdown(), state.TaskStateFailed, 2*time.Minute, 2*time.Minute)
	last := task("c", 7, state.TaskStateRunning, state.TaskStateFailed, time.Minute, time.Minute)
	for _, x := range []*state.Task{first, second, last} {
		x.Spec.Restart = policy
	}
	// The term saw the first end before it was trimmed away.
	r.decideRestart(svc, &slot{num: 1, ended: []*state.Task{second}, dead: []*state.Task{first}})
	d := r.decideRestart(svc, &slot{num: 1, ended: []*state.Task{last}, dead: []*state.Task{second}})
	if d.action != restartNever {
		t.Fatalf("decision %v (%s), want never: two restarts were made", d.action, d.reason)
	}
}

func shutdown() state.TaskState { return state.TaskStateShutdown }

func TestSettle(t *testing.T) {
	running, pending := state.TaskStateRunning, state.TaskStatePending
	on := func(t *state.Task, node string) *state.Task { t.NodeID = node; return t }
	tests := []struct {
		name     string
		live     []*state.Task
		load     map[string]int
		keep     []string
		stopping []string
	}{
		{"one task", []*state.Task{task("a", 7, running, running, time.Hour, 0)}, nil, []string{"a"}, nil},
		{"duplicates: the newest stays",
			[]*state.Task{task("a", 7, running, running, time.Hour, 0), task("b", 7, running, running, time.Minute, 0)},
			nil, []string{"b"}, []string{"a"}},
		{"start-first: the running one stays until the new one runs",
			[]*state.Task{task("a", 6, running, running, time.Hour, 0), task("b", 7, running, pending, time.Minute, 0)},
			nil, []string{"b", "a"}, nil},
		{"the extra task on the most loaded node stops",
			[]*state.Task{on(task("a", 6, running, running, time.Hour, 0), "busy"), on(task("c", 6, running, running, 2*time.Hour, 0), "idle"),
				task("b", 7, running, pending, time.Minute, 0)},
			map[string]int{"busy": 5, "idle": 1}, []string{"b", "c"}, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &slot{num: 1, live: tt.live}
			p := newPlan("s", &state.Service{ID: "s"}, 100)
			s.settle(p, tt.load)
			var kept []string
			for _, x := range s.live {
				kept = append(kept, x.ID)
			}
			if !slices.Equal(kept, tt.keep) || !slices.Equal(p.shutdown, tt.stopping) {
				t.Fatalf("kept %v and stopped %v, want %v and %v", kept, p.shutdown, tt.keep, tt.stopping)
			}
		})
	}
}

func TestUpdateConfigDefaults(t *testing.T) {
	svc := &state.Service{}
	if got := updateConfig(svc, false); got != state.DefaultUpdateConfig() {
		t.Fatalf("no config: %+v", got)
	}
	svc.Spec.Update = &state.UpdateConfig{Parallelism: 0, Order: state.UpdateOrderStartFirst}
	svc.Spec.Rollback = &state.UpdateConfig{Parallelism: 3, Monitor: time.Second, FailureAction: state.FailureActionContinue}
	if got := updateConfig(svc, false); got.Parallelism != 0 || got.Monitor != 5*time.Second ||
		got.FailureAction != state.FailureActionPause || got.Order != state.UpdateOrderStartFirst {
		t.Fatalf("update config %+v", got)
	}
	if got := updateConfig(svc, true); got.Parallelism != 3 || got.Monitor != time.Second ||
		got.FailureAction != state.FailureActionContinue || got.Order != state.UpdateOrderStopFirst {
		t.Fatalf("rollback config %+v", got)
	}
}

func TestConfigValidate(t *testing.T) {
	def := DefaultConfig()
	if err := def.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no clock", func(c *Config) { c.Clock = nil }, "clock"},
		{"no logger", func(c *Config) { c.Logger = nil }, "logger"},
		{"no propose timeout", func(c *Config) { c.ProposeTimeout = 0 }, "propose timeout"},
		{"backoff above its cap", func(c *Config) { c.MaxRetryBackoff = c.RetryBackoff / 2 }, "retry backoff"},
		{"no conflict retry", func(c *Config) { c.ConflictRetry = 0 }, "conflict retry"},
		{"empty batches", func(c *Config) { c.MaxBatch = 0 }, "max batch"},
		{"empty rounds", func(c *Config) { c.MaxRoundChanges = 0 }, "max round changes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one about %s", err, tt.want)
			}
			if err := New(nil, nil, c).Run(t.Context()); err == nil {
				t.Fatal("Run accepted an invalid config")
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	var got []time.Duration
	for i := 1; i <= 8; i++ {
		got = append(got, backoff(100*time.Millisecond, time.Second, i))
	}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000, 1000}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if !slices.Equal(got, want) {
		t.Fatalf("backoff %v, want %v", got, want)
	}
}
