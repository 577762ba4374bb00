package orchestrator

import (
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// task builds a task; age is how long before t0 it was created, ended how
// long before t0 its status was written.
func task(id string, spec uint64, desired, observed model.TaskState, age, ended time.Duration) *model.Task {
	t := &model.Task{ID: id, NodeID: "n1", SpecVersion: model.Version{Index: spec},
		DesiredState: desired, Status: model.TaskStatus{State: observed, Timestamp: t0.Add(-ended)}}
	t.CreatedAt = t0.Add(-age)
	t.Spec.Container.Image = "app:1"
	return t
}

func testRound() *round {
	o := &Orchestrator{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return &round{loop: newLoop(o), log: o.log, now: t0, stamp: t0}
}

func TestDecideRestart(t *testing.T) {
	svc := &model.Service{ID: "s", SpecVersion: model.Version{Index: 7}}
	svc.Spec.Task.Container.Image = "app:1"
	const (
		running  = model.TaskStateRunning
		shutdown = model.TaskStateShutdown
		failed   = model.TaskStateFailed
		complete = model.TaskStateComplete
		rejected = model.TaskStateRejected
	)
	withPolicy := func(t *model.Task, p model.RestartPolicy) *model.Task { t.Spec.Restart = p; return t }
	withImage := func(t *model.Task, image string) *model.Task { t.Spec.Container.Image = image; return t }
	zero := time.Duration(0)
	tests := []struct {
		name   string
		slot   slot
		action restartAction
		at     time.Time
	}{
		{"empty slot", slot{}, restartNow, time.Time{}},
		{"lost with its node", slot{lost: []*model.Task{task("a", 7, running, running, time.Hour, time.Hour)}}, restartNow, time.Time{}},
		{"shut down on request", slot{dead: []*model.Task{task("a", 7, shutdown, shutdown, time.Hour, time.Second)}}, restartNow, time.Time{}},
		{"failed 2s ago: default 5s delay", slot{ended: []*model.Task{task("a", 7, running, failed, time.Hour, 2*time.Second)}}, restartLater, t0.Add(3 * time.Second)},
		{"failed 6s ago", slot{ended: []*model.Task{task("a", 7, running, failed, time.Hour, 6*time.Second)}}, restartNow, time.Time{}},
		{"shut down unasked", slot{ended: []*model.Task{task("a", 7, running, shutdown, time.Hour, time.Minute)}}, restartNow, time.Time{}},
		{"older spec ended: no delay", slot{ended: []*model.Task{withImage(task("a", 6, running, failed, time.Hour, 0), "app:0")}}, restartNow, time.Time{}},
		{"condition none", slot{ended: []*model.Task{withPolicy(task("a", 7, running, failed, time.Hour, time.Minute),
			model.RestartPolicy{Condition: model.RestartOnNone})}}, restartNever, time.Time{}},
		{"on-failure, completed", slot{ended: []*model.Task{withPolicy(task("a", 7, running, complete, time.Hour, time.Minute),
			model.RestartPolicy{Condition: model.RestartOnFailure})}}, restartNever, time.Time{}},
		{"on-failure, rejected", slot{ended: []*model.Task{withPolicy(task("a", 7, running, rejected, time.Hour, time.Minute),
			model.RestartPolicy{Condition: model.RestartOnFailure})}}, restartNow, time.Time{}},
		{"max attempts reached", slot{
			ended: []*model.Task{withPolicy(task("c", 7, running, failed, time.Minute, 0), model.RestartPolicy{MaxAttempts: 2, Delay: &zero})},
			dead:  []*model.Task{task("a", 7, shutdown, failed, 3*time.Minute, 3*time.Minute), task("b", 7, shutdown, failed, 2*time.Minute, 2*time.Minute)},
		}, restartNever, time.Time{}},
		{"max attempts, one out of the window", slot{
			ended: []*model.Task{withPolicy(task("c", 7, running, failed, time.Minute, 0), model.RestartPolicy{MaxAttempts: 2, Window: 150 * time.Second, Delay: &zero})},
			dead:  []*model.Task{task("a", 7, shutdown, failed, 3*time.Minute, 3*time.Minute), task("b", 7, shutdown, failed, 2*time.Minute, 2*time.Minute)},
		}, restartNow, time.Time{}},
		{"max attempts, earlier spec's ends do not count", slot{
			ended: []*model.Task{withPolicy(task("c", 7, running, failed, time.Minute, 0), model.RestartPolicy{MaxAttempts: 1, Delay: &zero})},
			dead:  []*model.Task{task("a", 6, shutdown, failed, 3*time.Minute, 3*time.Minute)},
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
	svc := &model.Service{ID: "s", SpecVersion: model.Version{Index: 7}}
	r := testRound()
	policy := model.RestartPolicy{MaxAttempts: 2}
	first := task("a", 7, shutdown(), model.TaskStateFailed, 3*time.Minute, 3*time.Minute)
	second := task("b", 7, shutdown(), model.TaskStateFailed, 2*time.Minute, 2*time.Minute)
	last := task("c", 7, model.TaskStateRunning, model.TaskStateFailed, time.Minute, time.Minute)
	for _, x := range []*model.Task{first, second, last} {
		x.Spec.Restart = policy
	}
	// The loop saw the first end before it was trimmed away.
	r.decideRestart(svc, &slot{num: 1, ended: []*model.Task{second}, dead: []*model.Task{first}})
	d := r.decideRestart(svc, &slot{num: 1, ended: []*model.Task{last}, dead: []*model.Task{second}})
	if d.action != restartNever {
		t.Fatalf("decision %v (%s), want never: two restarts were made", d.action, d.reason)
	}
}

func shutdown() model.TaskState { return model.TaskStateShutdown }

func TestSettle(t *testing.T) {
	running, pending := model.TaskStateRunning, model.TaskStatePending
	on := func(t *model.Task, node string) *model.Task { t.NodeID = node; return t }
	tests := []struct {
		name     string
		live     []*model.Task
		load     map[string]int
		keep     []string
		stopping []string
	}{
		{"one task", []*model.Task{task("a", 7, running, running, time.Hour, 0)}, nil, []string{"a"}, nil},
		{"duplicates: the newest stays",
			[]*model.Task{task("a", 7, running, running, time.Hour, 0), task("b", 7, running, running, time.Minute, 0)},
			nil, []string{"b"}, []string{"a"}},
		{"start-first: the running one stays until the new one runs",
			[]*model.Task{task("a", 6, running, running, time.Hour, 0), task("b", 7, running, pending, time.Minute, 0)},
			nil, []string{"b", "a"}, nil},
		{"the extra task on the most loaded node stops",
			[]*model.Task{on(task("a", 6, running, running, time.Hour, 0), "busy"), on(task("c", 6, running, running, 2*time.Hour, 0), "idle"),
				task("b", 7, running, pending, time.Minute, 0)},
			map[string]int{"busy": 5, "idle": 1}, []string{"b", "c"}, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &slot{num: 1, live: tt.live}
			p := newPlan("s", &model.Service{ID: "s"}, 100)
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
	svc := &model.Service{}
	if got := updateConfig(svc, false); got != model.DefaultUpdateConfig() {
		t.Fatalf("no config: %+v", got)
	}
	svc.Spec.Update = &model.UpdateConfig{Parallelism: 0, Order: model.UpdateOrderStartFirst}
	svc.Spec.Rollback = &model.UpdateConfig{Parallelism: 3, Monitor: time.Second, FailureAction: model.FailureActionContinue}
	if got := updateConfig(svc, false); got.Parallelism != 0 || got.Monitor != 5*time.Second ||
		got.FailureAction != model.FailureActionPause || got.Order != model.UpdateOrderStartFirst {
		t.Fatalf("update config %+v", got)
	}
	if got := updateConfig(svc, true); got.Parallelism != 3 || got.Monitor != time.Second ||
		got.FailureAction != model.FailureActionContinue || got.Order != model.UpdateOrderStopFirst {
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
