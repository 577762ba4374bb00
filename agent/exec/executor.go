package exec

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/model"
)

// Executor is a node's container runtime as the agent sees it: what the
// node is, a controller per task, and what adopting existing containers
// after a restart needs.
//
// An executor acts for one node ID and never sees or touches containers of
// another node, even when several agents share one runtime. Implementations
// must be safe for concurrent use.
type Executor interface {
	// Describe reports the node's hostname, platform, resources and engine.
	Describe(ctx context.Context) (*model.NodeDescription, error)

	// Controller returns a controller for the task. It makes no call to
	// the runtime: the task's containers may or may not exist yet. An
	// error wrapping ErrInvalidTask means the task must be rejected. The
	// controller keeps a copy of what it needs; the caller keeps the task.
	Controller(task *model.Task) (Controller, error)

	// Containers lists this node's task containers, running or not, so an
	// agent can match them with its assigned tasks after a restart. The
	// caller owns the returned slice.
	Containers(ctx context.Context) ([]Container, error)

	// RemoveContainer stops (gracefully) and removes one of this node's
	// containers by ID, such as one whose task is no longer assigned. It
	// returns nil if the container is already gone, and an error if the
	// container is not this node's.
	RemoveContainer(ctx context.Context, containerID string) error
}

// Container is a task container found on the node.
type Container struct {
	ID   string
	Name string
	// TaskID, ServiceID, ServiceName and Slot come from the container's
	// labels.
	TaskID      string
	ServiceID   string
	ServiceName string
	Slot        uint64
	// State is what the container alone says about its task: READY
	// (created, never started), STARTING (running, health check pending),
	// RUNNING, COMPLETE (exited 0) or FAILED (exited non-zero, dead or
	// unhealthy). The agent's view of the task (desired state, last
	// reported state) decides what to do with it.
	State model.TaskState
	// ExitCode is meaningful once the container has exited.
	ExitCode  int
	CreatedAt time.Time
}

// LogSource is implemented by executors that can read containers' logs.
type LogSource interface {
	// Logs returns the container's output as lines "stdout TEXT" or
	// "stderr TEXT" (with Timestamps, "stdout RFC3339NANO TEXT"), each
	// ending in a newline, in the order the container wrote them; see
	// ParseLogLine. With Follow it ends when the container stops or ctx is
	// cancelled. The caller must Close the reader. Only this node's
	// containers can be read.
	Logs(ctx context.Context, containerID string, opts LogsOptions) (io.ReadCloser, error)
}

// TailNone as LogsOptions.Tail shows no past lines: with Follow, only what
// the container writes from now on.
const TailNone = -1

// LogsOptions selects which log lines Logs returns.
type LogsOptions struct {
	// Follow keeps the stream open for new lines.
	Follow bool
	// Tail limits past lines to the last Tail; 0 shows them all and
	// TailNone none.
	Tail int
	// Since, if not zero, skips lines written before it.
	Since time.Time
	// Timestamps prefixes each line's text with the time it was written.
	Timestamps bool
}

// Log streams.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// LogLine is one parsed line of Logs.
type LogLine struct {
	// Stream is Stdout or Stderr.
	Stream string
	// Timestamp is set when the lines were read with Timestamps.
	Timestamp time.Time
	// Text is the line without its newline.
	Text string
}

// ParseLogLine parses one line of Logs; timestamps says whether Logs was
// called with Timestamps.
func ParseLogLine(line string, timestamps bool) (LogLine, error) {
	line = strings.TrimSuffix(line, "\n")
	stream, rest, ok := strings.Cut(line, " ")
	if !ok && (stream == Stdout || stream == Stderr) {
		rest, ok = "", true // an empty line
	}
	if !ok || (stream != Stdout && stream != Stderr) {
		return LogLine{}, fmt.Errorf("exec: log line %q has no stream", line)
	}
	l := LogLine{Stream: stream, Text: rest}
	if timestamps {
		ts, text, _ := strings.Cut(rest, " ")
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return LogLine{}, fmt.Errorf("exec: log line %q: timestamp: %w", line, err)
		}
		l.Timestamp, l.Text = t, text
	}
	return l, nil
}

// ResourceUser is an optional capability of an Executor whose tasks use
// networks, secrets and configs. The agent gives it each set the manager
// sends (always the whole set), before it handles the assignments that
// need it. Secrets must stay in memory: never on disk, never in a log.
// Implementations must be safe for concurrent use and keep the sets
// without modifying them.
type ResourceUser interface {
	SetSecrets(*protocol.Secrets)
	SetNetworks(*protocol.NetworkView)
}
