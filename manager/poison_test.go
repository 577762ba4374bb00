package manager_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/manager"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/orchestrator"
	"github.com/shoal-dev/shoal/state"
)

// unixClient talks HTTP to the manager's API socket.
func unixClient(socket string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		},
	}}
}

func apiCall(t *testing.T, c *http.Client, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://shoal"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func storedService(m *manager.Manager, id string) *model.Service {
	var s *model.Service
	_ = m.Store().View(func(tx state.ReadTx) error { s = tx.GetService(id); return nil })
	return s
}

func serviceTasks(m *manager.Manager, id string) int {
	n := 0
	_ = m.Store().View(func(tx state.ReadTx) error {
		return tx.ForEachTask(state.ByServiceID(id), func(t *model.Task) bool {
			if t.DesiredState <= model.TaskStateRunning {
				n++
			}
			return true
		})
	})
	return n
}

// TestPoisonServiceIsNotFatal is the regression test of issue 21's
// finding 1: a service with 9223372036854775808 replicas, committed as a
// state command around the API (as the old code committed it), made the
// orchestrator panic (makeslice: cap out of range) on every start, so the
// cluster never came back. Now the manager stays up, marks the service,
// keeps orchestrating the others, comes back up after a restart that
// replays the poison entry, and answers the API, through which an update
// and `service rm` fix it.
func TestPoisonServiceIsNotFatal(t *testing.T) {
	cfg := testConfig(t, "m1")
	m1, err := manager.Init(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := running(t, m1)
	waitFor(t, "leadership and the cluster object", 10*time.Second, func() bool { return m1.Raft().IsLeader() && cluster(m1) != nil })

	spec := func(name string, replicas uint64) model.ServiceSpec {
		return model.ServiceSpec{
			Annotations: model.Annotations{Name: name},
			Task:        model.TaskSpec{Container: model.ContainerSpec{Image: "demo"}},
			Mode:        model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: replicas}},
		}
	}
	poison := &model.Service{ID: model.NewID(), Spec: spec("poison", 1<<63)}
	healthy := &model.Service{ID: model.NewID(), Spec: spec("healthy", 2)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range []*model.Service{poison, healthy} {
		res, err := m1.Raft().Propose(ctx, state.NewCommand(state.Op{Type: state.OpCreateService, Service: s}))
		if err == nil {
			err = res.Err()
		}
		if err != nil {
			t.Fatalf("committing %s: %v", s.Spec.Name, err)
		}
	}
	marked := func(m *manager.Manager) func() bool {
		return func() bool {
			s := storedService(m, poison.ID)
			return s != nil && s.UpdateStatus != nil && s.UpdateStatus.State == model.UpdateStatePaused &&
				strings.HasPrefix(s.UpdateStatus.Message, orchestrator.RefusedMessagePrefix) &&
				strings.Contains(s.UpdateStatus.Message, "9223372036854775808")
		}
	}
	waitFor(t, "the poison service marked", 10*time.Second, marked(m1))
	waitFor(t, "the healthy service's 2 tasks", 10*time.Second, func() bool { return serviceTasks(m1, healthy.ID) == 2 })
	if n := serviceTasks(m1, poison.ID); n != 0 {
		t.Errorf("the poison service got %d tasks", n)
	}
	stop()

	// A restart replays the log, poison entry included.
	m2, err := manager.Open(manager.Config{DataDir: cfg.DataDir, Raft: cfg.Raft, Logger: cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	running(t, m2)
	waitFor(t, "leadership after restart", 10*time.Second, func() bool { return m2.Raft().IsLeader() })
	waitFor(t, "the poison service marked after restart", 10*time.Second, marked(m2))

	c := unixClient(m2.Settings().APISocket)
	status, body := apiCall(t, c, "GET", "/v1.41/services/poison", nil)
	if status != http.StatusOK {
		t.Fatalf("inspect: %d %s", status, body)
	}
	var got swarm.Service
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.UpdateStatus == nil || !strings.Contains(got.UpdateStatus.Message, "limit of 100000") {
		t.Errorf("inspect shows update status %+v; want the reason", got.UpdateStatus)
	}

	// `docker service scale poison=3`: accepted, the mark goes, 3 tasks.
	three := uint64(3)
	got.Spec.Mode.Replicated.Replicas = &three
	status, body = apiCall(t, c, "POST", fmt.Sprintf("/v1.41/services/%s/update?version=%d", got.ID, got.Version.Index), got.Spec)
	if status != http.StatusOK {
		t.Fatalf("scale: %d %s", status, body)
	}
	waitFor(t, "the fixed service's 3 tasks", 10*time.Second, func() bool {
		s := storedService(m2, poison.ID)
		return serviceTasks(m2, poison.ID) == 3 && s != nil && (s.UpdateStatus == nil || !strings.HasPrefix(s.UpdateStatus.Message, orchestrator.RefusedMessagePrefix))
	})

	// Poisoned again, then `docker service rm`.
	res, err := m2.Raft().Propose(ctx, state.NewCommand(state.Op{Type: state.OpUpdateService,
		Service: &model.Service{ID: poison.ID, Spec: spec("poison", 10_000_000)}, Version: storedService(m2, poison.ID).Version.Index}))
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		t.Fatalf("poisoning again: %v", err)
	}
	waitFor(t, "the poison service marked again", 10*time.Second, func() bool {
		s := storedService(m2, poison.ID)
		return s.UpdateStatus != nil && strings.Contains(s.UpdateStatus.Message, "10000000")
	})
	if status, body := apiCall(t, c, "DELETE", "/v1.41/services/poison", nil); status != http.StatusOK {
		t.Fatalf("rm: %d %s", status, body)
	}
	waitFor(t, "the service and its tasks gone", 10*time.Second, func() bool {
		return storedService(m2, poison.ID) == nil && serviceTasks(m2, poison.ID) == 0
	})
	if n := serviceTasks(m2, healthy.ID); n != 2 {
		t.Errorf("the healthy service has %d tasks", n)
	}
}
