package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
)

// Labels the executor puts on task containers (agent/exec/dockerexec).
const (
	labelNodeID    = "io.shoal.node.id"
	labelServiceID = "io.shoal.service.id"
	labelTaskID    = "io.shoal.task.id"
	labelTaskName  = "io.shoal.task.name"
	labelTaskSlot  = "io.shoal.task.slot"
)

// pollInterval is the pause between two checks of a condition: short next
// to what is measured (failover in about a second), long enough not to
// load a shared 2-core machine with API calls.
const pollInterval = 100 * time.Millisecond

// eventually checks f every pollInterval until it returns nil and returns
// how long that took; past timeout it fails the test with f's last error.
// Each call of f gets a context that ends after 10 s.
func eventually(t *testing.T, timeout time.Duration, what string, f func(ctx context.Context) error) time.Duration {
	t.Helper()
	return poll(t, timeout, 10*time.Second, what, f)
}

// poll is eventually with each call of f given callTimeout: short when
// what is measured must not wait on a call stuck with a dead node.
func poll(t *testing.T, timeout, callTimeout time.Duration, what string, f func(ctx context.Context) error) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		err := f(ctx)
		cancel()
		if err == nil {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(pollInterval)
	}
}

// timings is the table a scenario prints at its end: how long each step
// took, and the failover numbers measured inside the steps.
type timings struct {
	mu      sync.Mutex
	cluster string
	rows    [][2]string
}

func (tm *timings) add(what string, d time.Duration) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	tm.rows = append(tm.rows, [2]string{what, d.Round(10 * time.Millisecond).String()})
}

// step runs one step of the scenario and records its duration.
func (tm *timings) step(t *testing.T, name string, f func()) {
	t.Helper()
	t.Logf("=== step: %s", name)
	start := time.Now()
	f()
	tm.add("step: "+name, time.Since(start))
}

// String formats the table.
func (tm *timings) String() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "timings, %s cluster:\n", tm.cluster)
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, r := range tm.rows {
		fmt.Fprintf(w, "  %s\t%s\n", r[0], r[1])
	}
	w.Flush()
	return b.String()
}

// report logs the table and appends it to $SHOAL_E2E_TIMINGS when set
// (go test shows a passing test's log only with -v).
func (tm *timings) report(t *testing.T) {
	s := tm.String()
	t.Log("\n" + s)
	if path := os.Getenv("SHOAL_E2E_TIMINGS"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Errorf("SHOAL_E2E_TIMINGS: %v", err)
			return
		}
		defer f.Close()
		fmt.Fprintf(f, "%s (%s)\n%s\n", t.Name(), time.Now().Format(time.RFC3339), s)
	}
}

// taskContainer is a task's container on the local engine.
type taskContainer struct {
	ID, NodeID, TaskID, TaskName, Image, IP string
	Slot                                    int
	Running                                 bool
}

// serviceContainers lists the local engine's containers of a service,
// stopped ones too.
func serviceContainers(ctx context.Context, docker *client.Client, serviceID string) ([]taskContainer, error) {
	cs, err := docker.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", labelServiceID+"="+serviceID)),
	})
	if err != nil {
		return nil, err
	}
	out := make([]taskContainer, 0, len(cs))
	for _, c := range cs {
		slot, _ := strconv.Atoi(c.Labels[labelTaskSlot])
		tc := taskContainer{
			ID: c.ID, NodeID: c.Labels[labelNodeID], TaskID: c.Labels[labelTaskID],
			TaskName: c.Labels[labelTaskName], Image: c.Image, Slot: slot, Running: c.State == "running",
		}
		if c.NetworkSettings != nil {
			if n := c.NetworkSettings.Networks["bridge"]; n != nil {
				tc.IP = n.IPAddress
			}
		}
		out = append(out, tc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slot < out[j].Slot })
	return out, nil
}

// nodeContainers lists every container labelled with one of the node IDs,
// stopped ones too.
func nodeContainers(ctx context.Context, docker *client.Client, nodeIDs []string) ([]container.Summary, error) {
	var out []container.Summary
	for _, id := range nodeIDs {
		if id == "" {
			continue
		}
		cs, err := docker.ContainerList(ctx, container.ListOptions{
			All:     true,
			Filters: filters.NewArgs(filters.Arg("label", labelNodeID+"="+id)),
		})
		if err != nil {
			return nil, err
		}
		out = append(out, cs...)
	}
	return out, nil
}

// removeNodeContainers force-removes every container of the given nodes:
// the cleanup that runs even when a test fails.
func removeNodeContainers(t *testing.T, docker *client.Client, nodeIDs []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs, err := nodeContainers(ctx, docker, nodeIDs)
	if err != nil {
		t.Errorf("cleanup: listing the nodes' containers: %v", err)
		return
	}
	for _, c := range cs {
		if err := docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !client.IsErrNotFound(err) {
			t.Errorf("cleanup: removing container %s: %v", c.ID, err)
		}
	}
	if len(cs) > 0 {
		t.Logf("cleanup: removed %d container(s) of the test's nodes", len(cs))
	}
}

// demoIdentity is what the demo app answers on GET /.
type demoIdentity struct {
	TaskName  string `json:"task_name"`
	TaskID    string `json:"task_id"`
	NodeID    string `json:"node_id"`
	ServiceID string `json:"service_id"`
}

var httpClient = &http.Client{Timeout: 3 * time.Second}

// askContainer sends GET / to a demo container on the bridge network and
// checks that it names its own task.
func askContainer(ctx context.Context, c taskContainer) error {
	if c.IP == "" {
		return fmt.Errorf("container %s (%s) has no bridge address", c.ID[:12], c.TaskName)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.IP+":8080/", nil)
	if err != nil {
		return err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s at %s: %w", c.TaskName, c.IP, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err
	}
	var id demoIdentity
	if err := json.Unmarshal(body, &id); err != nil {
		return fmt.Errorf("%s at %s answered %s: %q", c.TaskName, c.IP, resp.Status, body)
	}
	if id.TaskName != c.TaskName || id.TaskID != c.TaskID || id.NodeID != c.NodeID {
		return fmt.Errorf("container of %s (task %s, node %s) answered as %+v", c.TaskName, c.TaskID, c.NodeID, id)
	}
	return nil
}
