package testimage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// Probe is the answer of the demo image's probes (cmd/demoapp probe.go).
type Probe struct {
	Addrs   []string `json:"addrs,omitempty"`
	Status  int      `json:"status,omitempty"`
	Body    string   `json:"body,omitempty"`
	Mode    string   `json:"mode,omitempty"`
	UID     int      `json:"uid"`
	GID     int      `json:"gid"`
	Content string   `json:"content,omitempty"`
	// P50Micros, P99Micros and MBps are the latency and throughput
	// probes' results.
	P50Micros int64   `json:"p50_us,omitempty"`
	P99Micros int64   `json:"p99_us,omitempty"`
	MBps      float64 `json:"mbps,omitempty"`
	// RPS is the rate probe's requests per second.
	RPS float64 `json:"rps,omitempty"`
	// Requests, Retried, Failed, Reached and Errors are the load probe's
	// counts (StartProbe).
	Requests int            `json:"requests,omitempty"`
	Retried  int            `json:"retried,omitempty"`
	Failed   int            `json:"failed,omitempty"`
	Reached  map[string]int `json:"reached,omitempty"`
	Errors   []string       `json:"errors,omitempty"`
	Err      string         `json:"err,omitempty"`
}

// RunProbe runs `/demoapp probe KIND ARG` in a running demo container
// (docker exec: no network path from the caller is needed) and returns
// its answer. A probe that ran and failed (a name not resolved, a peer not
// reached) is a Probe with Err set, not an error.
func RunProbe(ctx context.Context, cli *client.Client, containerID, kind, arg string) (Probe, error) {
	ex, err := cli.ContainerExecCreate(ctx, containerID, container.ExecOptions{
		Cmd: []string{"/demoapp", "probe", kind, arg}, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return Probe{}, fmt.Errorf("testimage: exec in %s: %w", containerID, err)
	}
	att, err := cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return Probe{}, fmt.Errorf("testimage: attach to exec in %s: %w", containerID, err)
	}
	defer att.Close()
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, att.Reader); err != nil {
		return Probe{}, fmt.Errorf("testimage: probe output: %w", err)
	}
	var p Probe
	if err := json.Unmarshal(stdout.Bytes(), &p); err != nil {
		return Probe{}, fmt.Errorf("testimage: probe %s %s: %w (stdout %q, stderr %q)", kind, arg, err, stdout.String(), stderr.String())
	}
	return p, nil
}

// RunningProbe is a probe that runs until its stdin closes (the load
// probe), started by StartProbe.
type RunningProbe struct {
	att    types.HijackedResponse
	kind   string
	done   chan struct{}
	stdout bytes.Buffer
	stderr *watchedStderr
	err    error
}

// loadAnswered is the line the load probe writes to stderr at its first
// answer (cmd/demoapp's LoadAnswered).
const loadAnswered = "load: answered"

// watchedStderr keeps a probe's stderr and closes answered when the load
// probe's first answer is announced.
type watchedStderr struct {
	mu       sync.Mutex
	buf      bytes.Buffer
	answered chan struct{}
	closed   bool
}

func (w *watchedStderr) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.closed && bytes.Contains(w.buf.Bytes(), []byte(loadAnswered+"\n")) {
		w.closed = true
		close(w.answered)
	}
	return len(p), nil
}

func (w *watchedStderr) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// StartProbe starts `/demoapp probe KIND ARG` in a running demo container
// with its stdin attached; Stop closes the stdin and returns the answer.
func StartProbe(ctx context.Context, cli *client.Client, containerID, kind, arg string) (*RunningProbe, error) {
	ex, err := cli.ContainerExecCreate(ctx, containerID, container.ExecOptions{
		Cmd: []string{"/demoapp", "probe", kind, arg}, AttachStdin: true, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return nil, fmt.Errorf("testimage: exec in %s: %w", containerID, err)
	}
	att, err := cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return nil, fmt.Errorf("testimage: attach to exec in %s: %w", containerID, err)
	}
	p := &RunningProbe{att: att, kind: kind, done: make(chan struct{}), stderr: &watchedStderr{answered: make(chan struct{})}}
	go func() {
		defer close(p.done)
		_, p.err = stdcopy.StdCopy(&p.stdout, p.stderr, att.Reader)
	}()
	return p, nil
}

// WaitAnswered waits until a load probe got its first answer (the load is
// under way), the probe ended, or ctx ended.
func (p *RunningProbe) WaitAnswered(ctx context.Context) error {
	select {
	case <-p.stderr.answered:
		return nil
	case <-p.done:
		return fmt.Errorf("testimage: probe %s ended before its first answer: %s %s", p.kind, p.stdout.String(), p.stderr.String())
	case <-ctx.Done():
		return fmt.Errorf("testimage: probe %s: no answer yet: %w", p.kind, ctx.Err())
	}
}

// Stop closes the probe's stdin and waits for its answer until ctx ends.
func (p *RunningProbe) Stop(ctx context.Context) (Probe, error) {
	defer p.att.Close()
	if err := p.att.CloseWrite(); err != nil {
		return Probe{}, fmt.Errorf("testimage: closing the probe's stdin: %w", err)
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return Probe{}, fmt.Errorf("testimage: probe %s: no answer: %w", p.kind, ctx.Err())
	}
	if p.err != nil {
		return Probe{}, fmt.Errorf("testimage: probe output: %w", p.err)
	}
	var r Probe
	if err := json.Unmarshal(p.stdout.Bytes(), &r); err != nil {
		return Probe{}, fmt.Errorf("testimage: probe %s: %w (stdout %q, stderr %q)", p.kind, err, p.stdout.String(), p.stderr.String())
	}
	return r, nil
}
