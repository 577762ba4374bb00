package exec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/model"
)

// scripted is a controller whose methods return queued results, recording
// the calls. A method with no queued result returns nil; blockWait makes
// Wait block until its context is done.
type scripted struct {
	mu        sync.Mutex
	calls     []string
	results   map[string][]error
	blockWait bool
	container *model.ContainerStatus
	ports     []model.PortConfig
}

var (
	_ Controller        = (*scripted)(nil)
	_ ContainerStatuser = (*scripted)(nil)
	_ PortStatuser      = (*scripted)(nil)
)

func (s *scripted) next(method string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, method)
	q := s.results[method]
	if len(q) == 0 {
		return nil
	}
	s.results[method] = q[1:]
	return q[0]
}

func (s *scripted) Prepare(context.Context) error   { return s.next("Prepare") }
func (s *scripted) Start(context.Context) error     { return s.next("Start") }
func (s *scripted) Shutdown(context.Context) error  { return s.next("Shutdown") }
func (s *scripted) Terminate(context.Context) error { return s.next("Terminate") }
func (s *scripted) Remove(context.Context) error    { return s.next("Remove") }
func (s *scripted) Close() error                    { return s.next("Close") }

func (s *scripted) Wait(ctx context.Context) error {
	if err := s.next("Wait"); err != nil || !s.blockWait {
		return err
	}
	<-ctx.Done()
	return ctx.Err()
}

func (s *scripted) ContainerStatus(context.Context) (*model.ContainerStatus, error) {
	return s.container, nil
}

func (s *scripted) PortStatus(context.Context) ([]model.PortConfig, error) {
	return s.ports, nil
}

func testContext(t *testing.T) context.Context {
	return WithLogger(context.Background(), testutil.Logger(t, slog.LevelDebug))
}

func newTask(observed, desired model.TaskState) *model.Task {
	return &model.Task{
		ID: "task1", ServiceID: "svc1", ServiceName: "web", Slot: 1, NodeID: "node1",
		DesiredState: desired,
		Status:       model.TaskStatus{State: observed, Message: "before"},
	}
}

var (
	errPermanent = errors.New("image shoal/nope:latest not found")
	errTemporary = MakeTemporary(errors.New("engine unreachable"))
)

func TestDo(t *testing.T) {
	const (
		running  = model.TaskStateRunning
		shutdown = model.TaskStateShutdown
	)
	cs := &model.ContainerStatus{ContainerID: "c1", PID: 42}
	ports := []model.PortConfig{{Protocol: "tcp", TargetPort: 8080, PublishedPort: 30001, PublishMode: "host"}}
	type doCase struct {
		name      string
		observed  model.TaskState
		desired   model.TaskState
		results   map[string][]error
		cancelled bool

		want      model.TaskState
		wantErr   error // matched with errors.Is; nil means no error
		wantCalls []string
		wantMsg   string // substring of Message
		wantTErr  string // substring of Status.Err
		wantPorts bool
	}
	tests := []doCase{
		{name: "new is accepted", observed: model.TaskStateNew, desired: running, want: model.TaskStateAccepted, wantMsg: "accepted"},
		{name: "assigned is accepted", observed: model.TaskStateAssigned, desired: running, want: model.TaskStateAccepted},
		{name: "accepted -> preparing", observed: model.TaskStateAccepted, desired: running, want: model.TaskStatePreparing},
		{name: "prepare", observed: model.TaskStatePreparing, desired: running,
			want: model.TaskStateReady, wantCalls: []string{"Prepare"}, wantMsg: "prepared"},
		{name: "already prepared", observed: model.TaskStatePreparing, desired: running,
			results: map[string][]error{"Prepare": {fmt.Errorf("wrapped: %w", ErrTaskPrepared)}},
			want:    model.TaskStateReady, wantCalls: []string{"Prepare"}},
		{name: "prepare finds it started", observed: model.TaskStatePreparing, desired: running,
			results: map[string][]error{"Prepare": {ErrTaskStarted}},
			want:    running, wantCalls: []string{"Prepare"}, wantMsg: "already started", wantPorts: true},
		{name: "prepare fails for good: rejected", observed: model.TaskStatePreparing, desired: running,
			results: map[string][]error{"Prepare": {errPermanent}},
			want:    model.TaskStateRejected, wantCalls: []string{"Prepare"}, wantTErr: "shoal/nope:latest"},
		{name: "prepare fails for now: retry", observed: model.TaskStatePreparing, desired: running,
			results: map[string][]error{"Prepare": {errTemporary}},
			want:    model.TaskStatePreparing, wantErr: ErrTaskRetry, wantCalls: []string{"Prepare"}, wantMsg: "engine unreachable"},
		{name: "ready -> starting", observed: model.TaskStateReady, desired: running, want: model.TaskStateStarting},
		{name: "start", observed: model.TaskStateStarting, desired: running,
			want: running, wantCalls: []string{"Start"}, wantMsg: "started", wantPorts: true},
		{name: "start finds it started", observed: model.TaskStateStarting, desired: running,
			results: map[string][]error{"Start": {ErrTaskStarted}},
			want:    running, wantCalls: []string{"Start"}, wantMsg: "already started", wantPorts: true},
		{name: "start fails: failed, not rejected", observed: model.TaskStateStarting, desired: running,
			results: map[string][]error{"Start": {fmt.Errorf("%w: 3 checks failed", ErrContainerUnhealthy)}},
			want:    model.TaskStateFailed, wantCalls: []string{"Start"}, wantTErr: "unhealthy"},
		{name: "exit 0 completes", observed: running, desired: running,
			want: model.TaskStateComplete, wantCalls: []string{"Wait"}, wantMsg: "finished"},
		{name: "non-zero exit fails", observed: running, desired: running,
			results: map[string][]error{"Wait": {&ExitError{Code: 3}}},
			want:    model.TaskStateFailed, wantCalls: []string{"Wait"}, wantTErr: "task: non-zero exit (3)"},
		{name: "unhealthy while running fails", observed: running, desired: running,
			results: map[string][]error{"Wait": {fmt.Errorf("%w: last check: 503", ErrContainerUnhealthy)}},
			want:    model.TaskStateFailed, wantCalls: []string{"Wait"}, wantTErr: "unhealthy"},
		{name: "cancelled wait keeps running", observed: running, desired: running, cancelled: true,
			results: map[string][]error{"Wait": {context.Canceled}},
			want:    running, wantErr: context.Canceled, wantCalls: []string{"Wait"}, wantMsg: "before"},
		{name: "shutdown a running task", observed: running, desired: shutdown,
			want: shutdown, wantCalls: []string{"Shutdown"}, wantMsg: "shutdown"},
		{name: "shutdown before preparing", observed: model.TaskStateAssigned, desired: shutdown,
			want: shutdown, wantCalls: []string{"Shutdown"}},
		{name: "desired remove shuts down", observed: model.TaskStateStarting, desired: model.TaskStateRemove,
			want: shutdown, wantCalls: []string{"Shutdown"}},
		{name: "failed shutdown is retried", observed: running, desired: shutdown,
			results: map[string][]error{"Shutdown": {errPermanent}},
			want:    running, wantErr: ErrTaskRetry, wantCalls: []string{"Shutdown"}, wantMsg: "shutdown"},
		{name: "desired below observed: noop", observed: model.TaskStateReady, desired: model.TaskStatePreparing,
			want: model.TaskStateReady, wantErr: ErrTaskNoop},
		{name: "desired reached: noop", observed: model.TaskStateReady, desired: model.TaskStateReady,
			want: model.TaskStateReady, wantErr: ErrTaskNoop},
		{name: "desired ready prepares", observed: model.TaskStatePreparing, desired: model.TaskStateReady,
			want: model.TaskStateReady, wantCalls: []string{"Prepare"}},
		{name: "closed controller is a caller bug", observed: model.TaskStatePreparing, desired: running,
			results: map[string][]error{"Prepare": {ErrControllerClosed}},
			want:    model.TaskStatePreparing, wantErr: ErrControllerClosed, wantCalls: []string{"Prepare"}},
		{name: "unknown state", observed: model.TaskState(500), desired: running,
			want: model.TaskState(500), wantErr: ErrInvalidTransition},
	}
	for _, terminal := range []model.TaskState{model.TaskStateComplete, shutdown, model.TaskStateFailed,
		model.TaskStateRejected, model.TaskStateRemove, model.TaskStateOrphaned} {
		for _, desired := range []model.TaskState{running, shutdown} {
			tests = append(tests, doCase{name: fmt.Sprintf("%v is final (desired %v)", terminal, desired), observed: terminal, desired: desired,
				want: terminal, wantErr: ErrTaskNoop})
		}
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctlr := &scripted{results: tc.results, container: cs, ports: ports}
			if ctlr.results == nil {
				ctlr.results = map[string][]error{}
			}
			task := newTask(tc.observed, tc.desired)
			before := *task
			ctx := testContext(t)
			if tc.cancelled {
				c, cancel := context.WithCancel(ctx)
				cancel()
				ctx = c
			}

			got, err := Do(ctx, task, ctlr)

			if tc.wantErr == nil && err != nil {
				t.Fatalf("Do: %v", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("Do error = %v, want %v", err, tc.wantErr)
			}
			if got == nil {
				t.Fatal("Do returned a nil status")
			}
			if got.State != tc.want {
				t.Fatalf("state = %v, want %v (msg %q, err %q)", got.State, tc.want, got.Message, got.Err)
			}
			if got.State < tc.observed {
				t.Fatalf("state moved backwards: %v -> %v", tc.observed, got.State)
			}
			if !reflect.DeepEqual(ctlr.calls, tc.wantCalls) {
				t.Fatalf("calls = %v, want %v", ctlr.calls, tc.wantCalls)
			}
			if !strings.Contains(got.Message, tc.wantMsg) {
				t.Fatalf("message %q does not contain %q", got.Message, tc.wantMsg)
			}
			if tc.wantTErr != "" && !strings.Contains(got.Err, tc.wantTErr) {
				t.Fatalf("status err %q does not contain %q", got.Err, tc.wantTErr)
			}
			if tc.wantTErr == "" && got.Err != "" {
				t.Fatalf("unexpected status err %q", got.Err)
			}
			// The container status is read after every step the
			// controller took part in.
			wantCS := len(tc.wantCalls) > 0 && !errors.Is(err, ErrTaskRetry) && !errors.Is(err, ErrControllerClosed)
			if wantCS != (got.Container != nil) {
				t.Fatalf("container status = %+v, want filled: %v", got.Container, wantCS)
			}
			if tc.wantPorts != (len(got.Ports) > 0) {
				t.Fatalf("ports = %+v, want filled: %v", got.Ports, tc.wantPorts)
			}
			if got.State != tc.observed && got.Timestamp.IsZero() {
				t.Fatal("a transition left the timestamp zero")
			}
			if !reflect.DeepEqual(*task, before) {
				t.Fatalf("Do modified the task: %+v", task.Status)
			}
		})
	}
}

// drive calls Do until it stops moving, as an agent would, and returns the
// states the task went through.
func drive(t *testing.T, ctx context.Context, task *model.Task, ctlr Controller) ([]model.TaskState, error) {
	t.Helper()
	var seen []model.TaskState
	for range 100 {
		status, err := Do(ctx, task, ctlr)
		if status.State != task.Status.State {
			seen = append(seen, status.State)
		}
		task.Status = *status
		if err != nil {
			return seen, err
		}
	}
	t.Fatal("Do never settled")
	return nil, nil
}

// TestDoRunsToCompletion: a container that exits 0 makes its task
// complete, and the task stays so (Do is then a no-op: the agent restarts
// nothing), whether it was meant to run (a service's task, which the
// orchestrator may replace) or to complete (a job's task).
func TestDoRunsToCompletion(t *testing.T) {
	for _, desired := range []model.TaskState{model.TaskStateRunning, model.TaskStateComplete} {
		t.Run(desired.String(), func(t *testing.T) {
			ctlr := &scripted{results: map[string][]error{}}
			task := newTask(model.TaskStateAssigned, desired)
			seen, err := drive(t, testContext(t), task, ctlr)
			if !errors.Is(err, ErrTaskNoop) {
				t.Fatalf("final error = %v, want ErrTaskNoop", err)
			}
			want := []model.TaskState{model.TaskStateAccepted, model.TaskStatePreparing, model.TaskStateReady,
				model.TaskStateStarting, model.TaskStateRunning, model.TaskStateComplete}
			if !reflect.DeepEqual(seen, want) {
				t.Fatalf("states = %v, want %v", seen, want)
			}
			if want := []string{"Prepare", "Start", "Wait"}; !reflect.DeepEqual(ctlr.calls, want) {
				t.Fatalf("calls = %v, want %v", ctlr.calls, want)
			}
		})
	}
}

func TestDoShutdownWhileWaiting(t *testing.T) {
	ctlr := &scripted{results: map[string][]error{}, blockWait: true}
	task := newTask(model.TaskStateRunning, model.TaskStateRunning)

	ctx, cancel := context.WithCancel(testContext(t))
	done := make(chan error, 1)
	var status *model.TaskStatus
	go func() {
		var err error
		status, err = Do(ctx, task, ctlr)
		done <- err
	}()
	cancel() // the manager asked for a shutdown: stop waiting
	if err := <-done; !errors.Is(err, ErrTaskRetry) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Do = %v, want ErrTaskRetry wrapping context.Canceled", err)
	}
	if status.State != model.TaskStateRunning {
		t.Fatalf("cancelled Do moved the task to %v", status.State)
	}

	task.DesiredState = model.TaskStateShutdown
	status, err := Do(testContext(t), task, ctlr)
	if err != nil || status.State != model.TaskStateShutdown {
		t.Fatalf("Do = %v, %v; want SHUTDOWN", status.State, err)
	}
}

// TestDoForwardOnly drives tasks with random controller outcomes and
// random desired-state changes and checks the two invariants: the state
// never moves backwards, and a terminal state never changes.
func TestDoForwardOnly(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	outcomes := []error{nil, nil, nil, ErrTaskPrepared, ErrTaskStarted, errPermanent, errTemporary,
		&ExitError{Code: 1}, ErrContainerUnhealthy}
	desired := []model.TaskState{model.TaskStateReady, model.TaskStateRunning, model.TaskStateRunning,
		model.TaskStateShutdown, model.TaskStateRemove}
	ctx := WithLogger(context.Background(), slog.New(slog.DiscardHandler)) // too many steps to log
	for run := range 500 {
		ctlr := &scripted{results: map[string][]error{}}
		for _, m := range []string{"Prepare", "Start", "Wait", "Shutdown"} {
			for range 5 {
				ctlr.results[m] = append(ctlr.results[m], outcomes[rng.IntN(len(outcomes))])
			}
		}
		task := newTask(model.TaskStateAssigned, model.TaskStateRunning)
		var terminalAt model.TaskState
		for i := range 40 {
			if rng.IntN(6) == 0 {
				task.DesiredState = desired[rng.IntN(len(desired))]
			}
			status, err := Do(ctx, task, ctlr)
			if status.State < task.Status.State {
				t.Fatalf("run %d step %d: %v -> %v (err %v)", run, i, task.Status.State, status.State, err)
			}
			if terminalAt != 0 && status.State != terminalAt {
				t.Fatalf("run %d step %d: terminal %v changed to %v", run, i, terminalAt, status.State)
			}
			if status.State.Terminal() {
				terminalAt = status.State
				if !errors.Is(err, ErrTaskNoop) && status.State == task.Status.State {
					t.Fatalf("run %d: terminal task answered %v, want ErrTaskNoop", run, err)
				}
			}
			task.Status = *status
		}
	}
}

func TestParseLogLine(t *testing.T) {
	l, err := ParseLogLine("stderr 2026-01-02T03:04:05.123456789Z hello world\n", true)
	if err != nil || l.Stream != Stderr || l.Text != "hello world" || l.Timestamp.Nanosecond() != 123456789 {
		t.Fatalf("ParseLogLine = %+v, %v", l, err)
	}
	l, err = ParseLogLine("stdout  two  spaces", false)
	if err != nil || l.Stream != Stdout || l.Text != " two  spaces" {
		t.Fatalf("ParseLogLine = %+v, %v", l, err)
	}
	if l, err = ParseLogLine("stdout", false); err != nil || l.Text != "" {
		t.Fatalf("empty line: %+v, %v", l, err)
	}
	if _, err := ParseLogLine("stdin x", false); err == nil {
		t.Fatal("accepted an unknown stream")
	}
	if _, err := ParseLogLine("stdout notatime x", true); err == nil {
		t.Fatal("accepted a bad timestamp")
	}
}

func TestErrors(t *testing.T) {
	e := &ExitError{Code: 137, Cause: errors.New("OOM killed")}
	if e.Error() != "task: non-zero exit (137): OOM killed" {
		t.Fatalf("ExitError = %q", e.Error())
	}
	wrapped := fmt.Errorf("wait: %w", MakeTemporary(e))
	var exit *ExitError
	if !IsTemporary(wrapped) || !errors.As(wrapped, &exit) || exit.Code != 137 {
		t.Fatal("MakeTemporary must keep the cause reachable")
	}
	if MakeTemporary(nil) != nil || IsTemporary(errors.New("x")) {
		t.Fatal("temporary of nil or a plain error")
	}
}
