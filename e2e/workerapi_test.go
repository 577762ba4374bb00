package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/proctest"
	"github.com/shoal-dev/shoal/internal/testimage"
	"github.com/shoal-dev/shoal/node"
)

// TestWorkerSocketWithDockerCLI is issue 17's `docker info` on a worker: the
// stock docker CLI on a worker's own socket shows the engine and the
// worker's swarm state as on a Docker worker (Swarm: active, its node ID
// and address, Is Manager: false, the managers' addresses), and every
// command that reads or writes the cluster state is refused with Docker's
// 503 for workers, under every /vX.Y prefix the manager accepts. Once the
// worker is promoted, the same socket serves the control API; once it is
// demoted, the socket answers as a worker's again.
func TestWorkerSocketWithDockerCLI(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker CLI")
	}
	// The nodes' agents need an engine; /info on the worker reads it.
	engine := testimage.Client(t)
	engineInfo, err := engine.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := proctest.New(t)
	m1 := c.InitManager("m1")
	sw := m1.WaitReady(joinTimeout)
	// Two managers: demoting w1 again must leave a quorum behind (the
	// demoted node stops its manager as soon as its session says it is a
	// worker, before the leader takes it out of the Raft configuration).
	m2 := c.JoinManager("m2", sw.JoinTokens.Manager, m1)
	m2.WaitReady(joinTimeout)
	w1 := c.JoinWorker("w1", sw.JoinTokens.Worker, m1)
	w1ID := ""
	wantManagers := []swarm.Peer{{NodeID: nodeIDOf(t, m1), Addr: m1.Addr}, {NodeID: nodeIDOf(t, m2), Addr: m2.Addr}}
	slices.SortFunc(wantManagers, func(a, b swarm.Peer) int { return strings.Compare(a.Addr, b.Addr) })
	proctest.Eventually(t, joinTimeout, "w1's node record", func() error {
		st, err := node.Load(w1.DataDir)
		if err != nil {
			return err
		}
		w1ID = st.NodeID
		return nil
	})

	cfgDir := t.TempDir()
	docker := func(sock string, args ...string) (string, error) {
		cmd := exec.Command("docker", args...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+sock, "DOCKER_CONFIG="+cfgDir, "DOCKER_CLI_HINTS=false")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	// Active once the agent has its session; the socket answers before.
	var info swarm.Info
	proctest.Eventually(t, joinTimeout, "docker info on w1 showing an active swarm", func() error {
		out, err := docker(w1.Socket, "info", "--format", "{{json .Swarm}}")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if err := json.Unmarshal([]byte(out), &info); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if info.LocalNodeState != swarm.LocalNodeStateActive || !slices.Equal(info.RemoteManagers, wantManagers) {
			return fmt.Errorf("swarm %+v, want active with managers %v", info, wantManagers)
		}
		return nil
	})
	if info.NodeID != w1ID || info.NodeAddr != "127.0.0.1" || info.ControlAvailable || info.Error != "" ||
		info.Cluster != nil || info.Nodes != 0 || info.Managers != 0 {
		t.Fatalf("swarm section on w1: %+v; want node %s at 127.0.0.1, no control", info, w1ID)
	}
	out, err := docker(w1.Socket, "info")
	if err != nil {
		t.Fatalf("docker info: %v\n%s", err, out)
	}
	for _, want := range []string{
		"Swarm: active", "NodeID: " + w1ID, "Is Manager: false", "Node Address: 127.0.0.1",
		"Manager Addresses:\n   " + wantManagers[0].Addr + "\n   " + wantManagers[1].Addr + "\n",
		// The engine the worker's tasks run on.
		"Name: w1", "Server Version: " + engineInfo.ServerVersion, "Storage Driver: " + engineInfo.Driver,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("docker info on w1 lacks %q:\n%s", want, out)
		}
	}

	refused := [][]string{
		{"node", "ls"}, {"service", "ls"}, {"node", "inspect", "self"}, {"network", "ls", "--filter", "driver=overlay"},
		{"secret", "ls"}, {"config", "ls"}, {"swarm", "join-token", "worker"}, {"stack", "ls"},
		{"service", "create", "--name", "web", "--no-resolve-image", "nginx"},
	}
	checkRefused := func(sock string) error {
		for _, args := range refused {
			out, err := docker(sock, args...)
			if err == nil || !strings.Contains(out, api.MsgWorker) {
				return fmt.Errorf("docker %s: %v, %q; want refused with %q", strings.Join(args, " "), err, out, api.MsgWorker)
			}
		}
		return nil
	}
	if err := checkRefused(w1.Socket); err != nil {
		t.Fatal(err)
	}

	// The same negotiation as a manager's: any /vX.Y from 1.24 to 1.41,
	// 503 on the cluster routes, the headers the CLI reads.
	hc := unixHTTP(w1.Socket)
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/_ping", 200}, {"HEAD", "/_ping", 200}, {"GET", "/v1.41/version", 200}, {"GET", "/v1.24/info", 200},
		{"GET", "/v1.41/nodes", 503}, {"GET", "/services", 503}, {"GET", "/v1.30/tasks", 503},
		{"POST", "/v1.41/swarm/update?version=1", 503}, {"GET", "/v1.41/events", 503}, {"GET", "/v1.41/services/x/logs", 503},
		{"POST", "/v1.41/swarm/unlock", 503}, {"GET", "/v1.99/info", 400}, {"GET", "/v1.41/containers/json", 404},
	} {
		req, _ := http.NewRequest(tc.method, "http://worker"+tc.path, strings.NewReader("{}"))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Api-Version") != api.APIVersion {
			t.Errorf("%s %s: %d (Api-Version %q) %s, want %d", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Api-Version"), body, tc.status)
		}
		if tc.status == 503 && !strings.Contains(string(body), api.MsgWorker) {
			t.Errorf("%s %s: %s, want Docker's message for workers", tc.method, tc.path, body)
		}
		if tc.path == "/_ping" && resp.Header.Get("Swarm") != "active/worker" {
			t.Errorf("ping: Swarm header %q, want active/worker", resp.Header.Get("Swarm"))
		}
	}

	// Promoted: the node's manager serves the control API on the same
	// socket. Demoted: the worker's answers again.
	if out, err := docker(m1.Socket, "node", "promote", "w1"); err != nil {
		t.Fatalf("promote: %v\n%s", err, out)
	}
	proctest.Eventually(t, time.Minute, "w1's socket serving the control API", func() error {
		out, err := docker(w1.Socket, "node", "ls")
		if err != nil || !strings.Contains(out, "w1") {
			return fmt.Errorf("%v: %s", err, out)
		}
		// Reachable: demoting it then keeps a quorum.
		out, err = docker(m1.Socket, "node", "inspect", "w1", "--format", "{{.ManagerStatus.Reachability}}")
		if err != nil || strings.TrimSpace(out) != "reachable" {
			return fmt.Errorf("w1 as a manager: %v: %s", err, out)
		}
		return nil
	})
	if out, err := docker(m1.Socket, "node", "demote", "w1"); err != nil {
		t.Fatalf("demote: %v\n%s", err, out)
	}
	proctest.Eventually(t, time.Minute, "w1's socket answering as a worker's again", func() error {
		if err := checkRefused(w1.Socket); err != nil {
			return err
		}
		out, err := docker(w1.Socket, "info")
		if err != nil || !strings.Contains(out, "Is Manager: false") {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	if !w1.Running() {
		t.Fatalf("w1 exited:\n%s", w1.Log())
	}

	// No manager answers: the node stays active (it had a session) and
	// says why it has none; restarted, it is pending until one answers.
	m1.Kill()
	m2.Kill()
	swarmOf := func() (swarm.Info, error) {
		var si swarm.Info
		out, err := docker(w1.Socket, "info", "--format", "{{json .Swarm}}")
		if err != nil {
			return si, fmt.Errorf("%v: %s", err, out)
		}
		return si, json.Unmarshal([]byte(out), &si)
	}
	proctest.Eventually(t, time.Minute, "w1 active without a session", func() error {
		si, err := swarmOf()
		if err != nil || si.LocalNodeState != swarm.LocalNodeStateActive || !strings.Contains(si.Error, "no session with the manager at") {
			return fmt.Errorf("%+v %v", si, err)
		}
		return nil
	})
	if err := w1.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(w1.Socket); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("w1's socket outlived it: %v", err)
	}
	w1.Restart()
	proctest.Eventually(t, time.Minute, "w1 pending after a restart with no manager", func() error {
		si, err := swarmOf()
		if err != nil || si.LocalNodeState != swarm.LocalNodeStatePending || si.NodeID != w1ID || si.Error == "" {
			return fmt.Errorf("%+v %v", si, err)
		}
		return nil
	})
	if out, _ := docker(w1.Socket, "info"); !strings.Contains(out, "Swarm: pending") || !strings.Contains(out, "Error: no session with the manager at") {
		t.Errorf("docker info on a pending worker:\n%s", out)
	}
}

// nodeIDOf reads a node's ID from its data dir.
func nodeIDOf(t *testing.T, n *proctest.Node) string {
	t.Helper()
	st, err := node.Load(n.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	return st.NodeID
}

// unixHTTP is an HTTP client that dials the unix socket sock.
func unixHTTP(sock string) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
}
