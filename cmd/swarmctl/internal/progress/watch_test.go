package progress

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/golden"
)

// frame is what the manager answers during one poll.
type frame struct {
	svc   swarm.Service
	tasks []swarm.Task
	nodes []swarm.Node
}

// script is a Source that plays frames, one per poll: each sleep moves to
// the next frame (the last one stays), and moves the clock.
type script struct {
	t      *testing.T
	frames []frame
	i      int
	now    time.Time
	// cancelAt cancels the context at that poll, as Ctrl-C would.
	cancelAt int
	cancel   context.CancelFunc
	polls    int
}

func (s *script) frame() frame { return s.frames[min(s.i, len(s.frames)-1)] }

func (s *script) ServiceInspectWithRaw(_ context.Context, id string, _ swarm.ServiceInspectOptions) (swarm.Service, []byte, error) {
	s.polls++
	if s.polls > 1000 {
		s.t.Fatal("the watch does not end")
	}
	svc := s.frame().svc
	if id != svc.ID {
		s.t.Fatalf("inspect %q, want %q", id, svc.ID)
	}
	return svc, nil, nil
}

func (s *script) TaskList(_ context.Context, o swarm.TaskListOptions) ([]swarm.Task, error) {
	if !o.Filters.ExactMatch("_up-to-date", "true") || !o.Filters.ExactMatch("service", s.frame().svc.ID) {
		s.t.Errorf("task filters %v: want the service's up-to-date tasks", o.Filters)
	}
	return s.frame().tasks, nil
}

func (s *script) NodeList(context.Context, swarm.NodeListOptions) ([]swarm.Node, error) {
	return s.frame().nodes, nil
}

func (s *script) sleep(ctx context.Context, d time.Duration) error {
	s.now = s.now.Add(d)
	s.i++
	if s.cancelAt > 0 && s.i == s.cancelAt {
		s.cancel()
	}
	return ctx.Err()
}

var start = time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func replicated(n uint64, monitor time.Duration) swarm.Service {
	s := swarm.Service{ID: "svc0000000000000000000001", Spec: swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: "web"},
		Mode:        swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}},
	}}
	if monitor > 0 {
		s.Spec.UpdateConfig = &swarm.UpdateConfig{Monitor: monitor}
	}
	return s
}

func global(monitor time.Duration) swarm.Service {
	s := replicated(0, monitor)
	s.Spec.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
	return s
}

func nodes(down ...string) []swarm.Node {
	var out []swarm.Node
	for i, host := range []string{"node-1", "node-2", "node-3"} {
		n := swarm.Node{ID: fmt.Sprintf("node%021d", i+1), Description: swarm.NodeDescription{Hostname: host},
			Status: swarm.NodeStatus{State: swarm.NodeStateReady}}
		for _, d := range down {
			if d == host {
				n.Status.State = swarm.NodeStateDown
			}
		}
		out = append(out, n)
	}
	return out
}

func nodeID(i int) string { return fmt.Sprintf("node%021d", i) }

// tk is a task of slot (or, with slot 0, of node) in state; err is its
// error message.
func tk(slot, node int, state swarm.TaskState, err string) swarm.Task {
	desired := swarm.TaskStateRunning
	if terminal(state) {
		desired = swarm.TaskStateShutdown
	}
	t := swarm.Task{ID: fmt.Sprintf("task%d-%d-%s", slot, node, state), ServiceID: "svc0000000000000000000001",
		Slot: slot, DesiredState: desired, Status: swarm.TaskStatus{State: state, Err: err}}
	if node > 0 {
		t.NodeID = nodeID(node)
	}
	return t
}

func running(slot, node int) swarm.Task { return tk(slot, node, swarm.TaskStateRunning, "") }

// run plays frames through Watch and returns the output, with the escape
// character shown as ␛ so terminal goldens read as text.
func run(t *testing.T, s *script, terminal bool) (string, error) {
	t.Helper()
	s.t, s.now = t, start
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.cancel = cancel
	var b bytes.Buffer
	err := Watch(ctx, s, s.frames[0].svc.ID, Options{
		Out: &b, Terminal: terminal, Now: func() time.Time { return s.now }, Sleep: s.sleep,
		PsHint: "swarmctl service ps web",
	})
	return strings.ReplaceAll(b.String(), "\x1b", "␛"), err
}

func TestWatch(t *testing.T) {
	const monitor = time.Second
	svc3 := replicated(3, monitor)
	paused := replicated(2, monitor)
	paused.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateUpdating}
	pausedNow := paused
	pausedNow.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStatePaused, Message: "update paused due to failure or early termination of task task2"}
	rb := func(state swarm.UpdateState, msg string) swarm.Service {
		s := replicated(2, monitor)
		s.UpdateStatus = &swarm.UpdateStatus{State: state, Message: msg}
		return s
	}

	for _, tc := range []struct {
		name     string
		frames   []frame
		cancelAt int
		wantErr  string
	}{
		{
			name: "replicated",
			frames: []frame{
				{svc: svc3, nodes: nodes()},
				{svc: svc3, nodes: nodes(), tasks: []swarm.Task{
					tk(1, 0, swarm.TaskStatePending, ""), tk(2, 0, swarm.TaskStatePending, ""), tk(3, 0, swarm.TaskStateNew, ""),
				}},
				{svc: svc3, nodes: nodes(), tasks: []swarm.Task{
					tk(1, 1, swarm.TaskStateAssigned, ""), tk(2, 2, swarm.TaskStatePreparing, ""),
					tk(3, 0, swarm.TaskStatePending, "no suitable node (1 node drained; 2 nodes have insufficient memory)"),
				}},
				{svc: svc3, nodes: nodes(), tasks: []swarm.Task{
					running(1, 1), tk(2, 2, swarm.TaskStateStarting, ""), tk(3, 3, swarm.TaskStateAccepted, ""),
				}},
				{svc: svc3, nodes: nodes(), tasks: []swarm.Task{running(1, 1), running(2, 2), running(3, 3)}},
			},
		},
		{
			// A task on a DOWN node does not count, and its slot waits
			// for the replacement.
			name: "replicated-node-down",
			frames: []frame{
				{svc: svc3, nodes: nodes("node-3"), tasks: []swarm.Task{running(1, 1), running(2, 2), running(3, 3)}},
				{svc: svc3, nodes: nodes("node-3"), tasks: []swarm.Task{running(1, 1), running(2, 2), running(3, 3), tk(3, 1, swarm.TaskStateStarting, "")}},
				{svc: svc3, nodes: nodes("node-3"), tasks: []swarm.Task{running(1, 1), running(2, 2), running(3, 3), running(3, 1)}},
			},
		},
		{
			name: "global",
			frames: []frame{
				{svc: global(3 * time.Second), nodes: nodes("node-3")},
				{svc: global(3 * time.Second), nodes: nodes("node-3"), tasks: []swarm.Task{
					tk(0, 1, swarm.TaskStateAssigned, ""), tk(0, 2, swarm.TaskStatePreparing, ""), running(0, 3),
				}},
				{svc: global(3 * time.Second), nodes: nodes("node-3"), tasks: []swarm.Task{
					running(0, 1), tk(0, 2, swarm.TaskStateRejected, "pull access denied for agent:1"), tk(0, 2, swarm.TaskStateStarting, ""), running(0, 3),
				}},
				{svc: global(3 * time.Second), nodes: nodes("node-3"), tasks: []swarm.Task{running(0, 1), running(0, 2), running(0, 3)}},
			},
		},
		{
			// A task fails during the monitor period: the watch goes on.
			name: "task-failure",
			frames: []frame{
				{svc: replicated(2, monitor), nodes: nodes(), tasks: []swarm.Task{running(1, 1), running(2, 2)}},
				{svc: replicated(2, monitor), nodes: nodes(), tasks: []swarm.Task{running(1, 1), running(2, 2)}},
				{svc: replicated(2, monitor), nodes: nodes(), tasks: []swarm.Task{running(1, 1), tk(2, 2, swarm.TaskStateFailed, "task: non-zero exit (1)")}},
				{svc: replicated(2, monitor), nodes: nodes(), tasks: []swarm.Task{running(1, 1), tk(2, 2, swarm.TaskStateStarting, "")}},
				{svc: replicated(2, monitor), nodes: nodes(), tasks: []swarm.Task{running(1, 1), running(2, 2)}},
			},
		},
		{
			name: "update-paused",
			frames: []frame{
				{svc: paused, nodes: nodes(), tasks: []swarm.Task{running(1, 1), tk(2, 2, swarm.TaskStateStarting, "")}},
				{svc: paused, nodes: nodes(), tasks: []swarm.Task{running(1, 1), tk(2, 2, swarm.TaskStateFailed, "task: non-zero exit (2)")}},
				{svc: pausedNow, nodes: nodes(), tasks: []swarm.Task{running(1, 1)}},
			},
			wantErr: "service update paused: update paused due to failure or early termination of task task2",
		},
		{
			name: "rollback",
			frames: []frame{
				{svc: rb(swarm.UpdateStateUpdating, "update in progress"), nodes: nodes(), tasks: []swarm.Task{running(1, 1), tk(2, 2, swarm.TaskStateFailed, "task: non-zero exit (2)")}},
				{svc: rb(swarm.UpdateStateRollbackStarted, "update rolled back due to failure or early termination of task task2"), nodes: nodes(), tasks: []swarm.Task{running(1, 1), tk(2, 2, swarm.TaskStateStarting, "")}},
				{svc: rb(swarm.UpdateStateRollbackCompleted, "rollback completed"), nodes: nodes(), tasks: []swarm.Task{running(1, 1), running(2, 2)}},
			},
		},
		{
			name: "rollback-paused",
			frames: []frame{
				{svc: rb(swarm.UpdateStateRollbackStarted, "update rolled back due to failure or early termination of task task2"), nodes: nodes(), tasks: []swarm.Task{running(1, 1)}},
				{svc: rb(swarm.UpdateStateRollbackPaused, "rollback paused due to failure or early termination of task task3"), nodes: nodes(), tasks: []swarm.Task{running(1, 1)}},
			},
			wantErr: "service rollback paused: rollback paused due to failure or early termination of task task3",
		},
		{
			name:     "interrupted",
			frames:   []frame{{svc: svc3, nodes: nodes(), tasks: []swarm.Task{running(1, 1), tk(2, 0, swarm.TaskStatePending, "no suitable node (3 nodes down)")}}},
			cancelAt: 3,
		},
		{
			// Above 20 replicas there is no line per slot.
			name: "many-replicas",
			frames: []frame{
				{svc: replicated(25, monitor), nodes: nodes()},
				{svc: replicated(25, monitor), nodes: nodes(), tasks: func() []swarm.Task {
					var ts []swarm.Task
					for i := 1; i <= 25; i++ {
						ts = append(ts, running(i, 1+i%3))
					}
					return ts
				}()},
			},
		},
		{
			name:   "zero-replicas",
			frames: []frame{{svc: replicated(0, monitor), nodes: nodes()}},
		},
		{
			// Slots need not be contiguous after a scale down and up:
			// they are shown as lines 1..N in slot order.
			name: "sparse-slots",
			frames: []frame{
				{svc: replicated(2, monitor), nodes: nodes(), tasks: []swarm.Task{running(4, 1), tk(7, 2, swarm.TaskStateStarting, "")}},
				{svc: replicated(2, monitor), nodes: nodes(), tasks: []swarm.Task{running(4, 1), running(7, 2)}},
			},
		},
	} {
		for _, terminal := range []bool{false, true} {
			name := tc.name + "-plain"
			if terminal {
				name = tc.name + "-terminal"
			}
			t.Run(name, func(t *testing.T) {
				out, err := run(t, &script{frames: tc.frames, cancelAt: tc.cancelAt}, terminal)
				if tc.wantErr != "" {
					if err == nil || err.Error() != tc.wantErr {
						t.Fatalf("error %v, want %q", err, tc.wantErr)
					}
				} else if err != nil {
					t.Fatal(err)
				}
				golden.Assert(t, name, []byte(out))
			})
		}
	}
}

// With no UpdateConfig the watch waits Docker's default monitor, 5 s.
func TestWatchDefaultMonitor(t *testing.T) {
	s := &script{frames: []frame{{svc: replicated(1, 0), nodes: nodes(), tasks: []swarm.Task{running(1, 1)}}}}
	if _, err := run(t, s, false); err != nil {
		t.Fatal(err)
	}
	if waited := s.now.Sub(start); waited < DefaultMonitor || waited > DefaultMonitor+DefaultInterval {
		t.Errorf("waited %s after convergence, want the default monitor %s", waited, DefaultMonitor)
	}
}

// TestWatchJob follows a job's current iteration to its completions and
// ends at once (a job has nothing to verify); tasks of an older
// iteration do not count.
func TestWatchJob(t *testing.T) {
	svc := replicated(1, 0)
	total, conc := uint64(2), uint64(1)
	svc.Spec.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: &conc, TotalCompletions: &total}}
	svc.JobStatus = &swarm.JobStatus{JobIteration: swarm.Version{Index: 7}}
	task := func(slot int, iteration uint64, st swarm.TaskState) swarm.Task {
		return swarm.Task{ID: fmt.Sprint("t", slot, iteration), Slot: slot, NodeID: "n1", JobIteration: &swarm.Version{Index: iteration},
			DesiredState: swarm.TaskStateComplete, Status: swarm.TaskStatus{State: st}}
	}
	s := &script{frames: []frame{
		{svc: svc, nodes: nodes(), tasks: []swarm.Task{task(0, 3, swarm.TaskStateComplete), task(1, 3, swarm.TaskStateComplete), task(0, 7, swarm.TaskStateRunning)}},
		{svc: svc, nodes: nodes(), tasks: []swarm.Task{task(0, 7, swarm.TaskStateComplete), task(1, 7, swarm.TaskStateRunning)}},
		{svc: svc, nodes: nodes(), tasks: []swarm.Task{task(0, 7, swarm.TaskStateComplete), task(1, 7, swarm.TaskStateComplete)}},
	}}
	out, err := run(t, s, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"job progress: 0 out of 2 complete", "job progress: 1 out of 2 complete", "job progress: 2 out of 2 complete", "job complete"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	}
	if s.polls > 3 {
		t.Errorf("%d polls: a completed job was watched on", s.polls)
	}
}

// An update that the manager reports completed before the watch saw the
// tasks converge ends the watch at once, as with the docker CLI.
func TestWatchCompletedUpdate(t *testing.T) {
	svc := replicated(1, time.Second)
	svc.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateCompleted, Message: "update completed"}
	s := &script{frames: []frame{{svc: svc, nodes: nodes()}}}
	if _, err := run(t, s, false); err != nil {
		t.Fatal(err)
	}
	if s.polls != 1 {
		t.Errorf("%d polls, want 1", s.polls)
	}
}

func TestRowBar(t *testing.T) {
	for _, c := range []struct {
		r    row
		want string
	}{
		{row{action: "running  ", current: 9, total: 9}, "running   [==============================>]"},
		{row{action: "new      ", current: 1, total: 9}, "new       [===>                           ]"},
		{row{action: "no bar"}, "no bar"},
	} {
		if got := c.r.fancy(); got != c.want {
			t.Errorf("fancy() = %q, want %q", got, c.want)
		}
	}
}
