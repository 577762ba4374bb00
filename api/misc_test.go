package api_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

func TestMetrics(t *testing.T) {
	e := newEnv(t, 1)
	e.addWorker("worker1", "worker-1", func(n *model.Node) { n.Status.State = model.NodeStateDown })
	e.must(http.StatusCreated, "POST", "/v1.41/services/create", webSpec("web", 2), nil)
	ws := e.service("web")
	e.propose(state.Op{Type: state.OpCreateTasks, ID: ws.ID, SpecVersion: ws.SpecVersion.Index,
		NewTasks: []state.NewTask{{ID: "t1", Slot: 1}, {ID: "t2", Slot: 2}}})
	e.do("GET", "/services/nope", nil)

	r := e.must(http.StatusOK, "GET", "/metrics", nil, nil)
	body := string(r.body)
	for _, want := range []string{
		`shoal_api_request_duration_seconds_count{code="201",method="POST",route="/services/create"} 1`,
		`shoal_api_request_duration_seconds_count{code="404",method="GET",route="/services/{id}"} 1`,
		`shoal_tasks{state="pending"} 2`,
		`shoal_tasks{state="running"} 0`,
		`shoal_nodes{role="manager",status="ready"} 1`,
		`shoal_nodes{role="worker",status="down"} 1`,
		`shoal_services{mode="replicated"} 1`,
		`shoal_services{mode="global"} 0`,
		`shoal_store_index `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Log(body)
	}

	// A second server on the same registry shares the metrics.
	cfg := api.DefaultConfig()
	cfg.Logger = testLogger(t)
	api.NewServer(e.b, cfg)
}

func TestDistribution(t *testing.T) {
	e := newEnv(t, 1)
	const digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	spec := webSpec("web", 1)
	spec.TaskTemplate.ContainerSpec.Image = "nginx:1.27@" + digest
	spec.TaskTemplate.Placement.Platforms = []swarm.Platform{{Architecture: "amd64", OS: "linux"}, {Architecture: "arm64", OS: "linux"}}
	e.must(http.StatusCreated, "POST", "/services/create", spec, nil)

	r := e.do("GET", "/v1.41/distribution/nginx:1.27/json", nil)
	if r.status != http.StatusNotFound || !strings.Contains(r.message(), "no digest known for image nginx:1.27") {
		t.Errorf("tag: %d %s", r.status, r.body)
	}
	var d registry.DistributionInspect
	e.must(http.StatusOK, "GET", "/v1.41/distribution/docker.io/library/nginx@"+digest+"/json", nil, &d)
	if d.Descriptor.Digest.String() != digest || len(d.Platforms) != 2 || d.Platforms[1].Architecture != "arm64" {
		t.Errorf("digest: %+v", d)
	}
	e.must(http.StatusOK, "GET", "/distribution/registry.example.com/team/app@"+digest+"/json", nil, &d)
	if d.Descriptor.Digest.String() != digest || len(d.Platforms) != 0 {
		t.Errorf("unknown repository: %+v", d)
	}
	if r := e.do("GET", "/distribution/NGINX!/json", nil); r.status != http.StatusBadRequest {
		t.Errorf("bad reference: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/distribution/nginx", nil); r.status != http.StatusNotFound {
		t.Errorf("no /json: %d %s", r.status, r.body)
	}
}

func TestListenUnixAndServe(t *testing.T) {
	e := newEnv(t, 1)
	dir, err := os.MkdirTemp("", "api")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, api.SocketName)

	// A stale socket from a crash is replaced.
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()

	l, err := api.ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("socket %v %v", fi.Mode(), err)
	}
	if _, err := api.ListenUnix(path); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second listener: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left in %s: %v", dir, entries)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, l) }()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	resp, err := client.Get("http://docker/v1.41/_ping")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "OK" || resp.Header.Get("Swarm") != "active/manager" {
		t.Errorf("ping over the socket: %q %v", b, resp.Header)
	}

	// A log stream that follows forever ends when the server shuts down.
	e.must(http.StatusCreated, "POST", "/services/create", webSpec("web", 1), nil)
	resp, err = client.Get("http://docker/services/web/logs?stdout=1&follow=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(api.ShutdownGrace + 5*time.Second):
		t.Fatal("Serve did not return")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v: the log stream held it", d)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket left after shutdown: %v", err)
	}

	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := api.ListenUnix(path); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("over a file: %v", err)
	}
}
