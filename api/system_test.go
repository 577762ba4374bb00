package api_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/state/raft"
	"github.com/shoal-dev/shoal/state/raft/rafttest"
)

func TestPing(t *testing.T) {
	e := newEnv(t, 1)
	for _, tc := range []struct {
		nodeID  string
		manager bool
		swarm   string
	}{
		{"node1", true, "active/manager"},
		{"node1", false, "active/worker"},
		{"", false, "inactive"},
	} {
		e.b.setRole(tc.nodeID, tc.manager)
		for _, method := range []string{"HEAD", "GET"} {
			for _, path := range []string{"/_ping", "/v1.41/_ping", "/v1.24/_ping"} {
				r := e.must(http.StatusOK, method, path, nil, nil)
				h := r.header
				if h.Get("Api-Version") != "1.41" || h.Get("Ostype") != "linux" || h.Get("Docker-Experimental") != "false" ||
					h.Get("Swarm") != tc.swarm || h.Get("Cache-Control") != "no-cache, no-store, must-revalidate" ||
					!strings.HasPrefix(h.Get("Server"), "shoal/test") {
					t.Errorf("%s %s: headers %v", method, path, h)
				}
				if want := map[string]string{"HEAD": "", "GET": "OK"}[method]; string(r.body) != want {
					t.Errorf("%s %s: body %q", method, path, r.body)
				}
			}
		}
	}
}

func TestVersion(t *testing.T) {
	e := newEnv(t, 1)
	var v types.Version
	e.must(http.StatusOK, "GET", "/v1.41/version", nil, &v)
	if v.APIVersion != api.APIVersion || v.MinAPIVersion != api.MinAPIVersion || v.Version != "test" || v.Os != "linux" ||
		len(v.Components) != 1 || v.Components[0].Name != "Engine" {
		t.Errorf("version %+v", v)
	}
	for _, tc := range []struct{ path, msg string }{
		{"/v1.50/version", "client version 1.50 is too new. Maximum supported API version is 1.41"},
		{"/v1.12/version", "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"},
	} {
		r := e.do("GET", tc.path, nil)
		if r.status != http.StatusBadRequest || r.message() != tc.msg {
			t.Errorf("%s: %d %s", tc.path, r.status, r.body)
		}
	}
	r := e.do("GET", "/v1.41/containers/json", nil)
	if r.status != http.StatusNotFound || !strings.Contains(r.message(), "page not found") ||
		r.header.Get("Content-Type") != "application/json" {
		t.Errorf("unknown route: %d %v %s", r.status, r.header, r.body)
	}
	if r := e.do("PUT", "/services/create", nil); r.status != http.StatusNotFound {
		t.Errorf("wrong method: %d %s", r.status, r.body)
	}
}

func TestInfo(t *testing.T) {
	e := newEnv(t, 1)
	e.addWorker("worker1", "worker-1")
	var info system.Info
	e.must(http.StatusOK, "GET", "/v1.41/info", nil, &info)
	sw := info.Swarm
	if info.ID != "node1" || info.ServerVersion != "test" || info.OSType != "linux" || info.NCPU == 0 ||
		sw.NodeID != "node1" || sw.NodeAddr != "10.0.0.1" || sw.LocalNodeState != swarm.LocalNodeStateActive ||
		!sw.ControlAvailable || sw.Error != "" || sw.Nodes != 2 || sw.Managers != 1 ||
		len(sw.RemoteManagers) != 1 || sw.RemoteManagers[0] != (swarm.Peer{NodeID: "node1", Addr: "10.0.0.1:2377"}) {
		t.Errorf("info %+v\nswarm %+v", info, sw)
	}
	c := e.clusterObject()
	if sw.Cluster == nil || sw.Cluster.ID != c.ID || sw.Cluster.Spec.Name != "default" ||
		*sw.Cluster.Spec.Orchestration.TaskHistoryRetentionLimit != 5 || sw.Cluster.TLSInfo.TrustRoot == "" {
		t.Errorf("cluster %+v", sw.Cluster)
	}

	e.b.setRole("node1", false)
	info = system.Info{}
	e.must(http.StatusOK, "GET", "/info", nil, &info)
	if sw := info.Swarm; sw.LocalNodeState != swarm.LocalNodeStateActive || sw.ControlAvailable || sw.Cluster != nil || sw.NodeID != "node1" {
		t.Errorf("worker info %+v", sw)
	}
	e.b.setRole("", false)
	info = system.Info{}
	e.must(http.StatusOK, "GET", "/info", nil, &info)
	if sw := info.Swarm; sw.LocalNodeState != swarm.LocalNodeStateInactive || sw.NodeID != "" || sw.Cluster != nil {
		t.Errorf("inactive info %+v", sw)
	}
}

// TestNotAManager checks that every cluster call is refused with Docker's
// messages on a node that is not a manager, while ping, version, info and
// metrics still answer.
func TestNotAManager(t *testing.T) {
	e := newEnv(t, 1)
	calls := []struct{ method, path string }{
		{"GET", "/swarm"}, {"POST", "/swarm/update?version=1"}, {"GET", "/swarm/unlockkey"},
		{"GET", "/services"}, {"POST", "/services/create"}, {"GET", "/services/x"}, {"POST", "/services/x/update?version=1"},
		{"DELETE", "/services/x"}, {"GET", "/services/x/logs?stdout=1"},
		{"GET", "/tasks"}, {"GET", "/tasks/x"}, {"GET", "/tasks/x/logs?stdout=1"},
		{"GET", "/nodes"}, {"GET", "/nodes/x"}, {"POST", "/nodes/x/update?version=1"}, {"DELETE", "/nodes/x"},
		{"GET", "/distribution/nginx:1.27/json"},
	}
	for _, tc := range []struct {
		nodeID  string
		manager bool
		msg     string
	}{
		{"node1", false, api.MsgWorker},
		{"", false, api.MsgNotInSwarm},
	} {
		e.b.setRole(tc.nodeID, tc.manager)
		for _, c := range calls {
			r := e.do(c.method, "/v1.41"+c.path, "{}")
			if r.status != http.StatusServiceUnavailable || r.message() != tc.msg {
				t.Errorf("%s %s as %q: %d %s", c.method, c.path, tc.nodeID, r.status, r.body)
			}
		}
		for _, path := range []string{"/_ping", "/version", "/info", "/metrics"} {
			e.must(http.StatusOK, "GET", path, nil, nil)
		}
	}
}

// TestNoQuorum cuts the API's manager off from the two others: reads and
// writes fail with the Raft layer's quorum error, answered 503, and
// /info reports it.
func TestNoQuorum(t *testing.T) {
	e := newEnv(t, 3, func(c *rafttest.Cluster) {
		c.Configure = func(cfg *raft.Config) { cfg.LeaderWaitTimeout = time.Second }
	})
	e.must(http.StatusOK, "GET", "/services", nil, nil)
	e.c.Isolate(e.b.m)
	// A heartbeat answered just before the cut may still confirm the
	// leadership once; wait until the isolated leader has stepped down.
	deadline := time.Now().Add(waitTimeout)
	for e.b.m.Node.IsLeader() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	r := e.do("GET", "/services", nil)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.message(), "no quorum") && !strings.Contains(r.message(), "no leader") {
		t.Errorf("read without quorum: %d %s", r.status, r.body)
	}
	r = e.do("POST", "/services/create", webSpec("web", 1))
	if r.status != http.StatusServiceUnavailable {
		t.Errorf("write without quorum: %d %s", r.status, r.body)
	}
	var info system.Info
	e.must(http.StatusOK, "GET", "/info", nil, &info)
	if info.Swarm.Error == "" || info.Swarm.LocalNodeState != swarm.LocalNodeStateError {
		t.Errorf("info without quorum: %+v", info.Swarm)
	}
}

// TestBadRequests covers what clients can get wrong in a body or query.
func TestBadRequests(t *testing.T) {
	e := newEnv(t, 1)
	e.must(http.StatusCreated, "POST", "/services/create", webSpec("web", 1), nil)
	big := `{"Name":"big","Labels":{"x":"` + strings.Repeat("a", api.DefaultMaxBodyBytes) + `"}}`
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		msg                      string
	}{
		{"malformed JSON", "POST", "/services/create", `{"Name": "x",`, 400, "invalid JSON"},
		{"not an object", "POST", "/services/create", `[1,2]`, 400, "invalid JSON"},
		{"wrong type", "POST", "/services/create", `{"Name": 5}`, 400, "invalid JSON"},
		{"empty body", "POST", "/services/create", ``, 400, "invalid JSON: got EOF while reading request body"},
		{"unknown field", "POST", "/services/create", `{"Name": "x", "Nmae": "y"}`, 400, `unknown field "Nmae"`},
		{"unknown nested field", "POST", "/services/create", `{"Name": "x", "TaskTemplate": {"ContainerSpec": {"Image": "a", "Imag": "b"}}}`, 400, `unknown field "Imag"`},
		{"trailing data", "POST", "/services/create", `{"Name": "x"} {"Name": "y"}`, 400, "unexpected data after the JSON object"},
		{"oversized body", "POST", "/services/create", big, 413, "request body is larger than the limit of " + strconv.Itoa(api.DefaultMaxBodyBytes) + " bytes"},
		{"no name", "POST", "/services/create", `{"TaskTemplate": {"ContainerSpec": {"Image": "nginx"}}}`, 400, "Name: a service name is required"},
		{"refused fields", "POST", "/services/create", `{"Name": "x", "TaskTemplate": {"ContainerSpec": {"Image": "nginx", "Secrets": [{"SecretID": "s", "SecretName": "s"}]}}, "EndpointSpec": {"Ports": [{"TargetPort": 80, "PublishedPort": 8080}]}}`,
			400, "TaskTemplate.ContainerSpec.Secrets"},
		{"node spec", "POST", "/nodes/node1/update?version=1", `{"Role": "boss", "Availability": "active"}`, 400, `Role: "boss": want worker or manager`},
		{"swarm spec", "POST", "/swarm/update?version=1", `{"CAConfig": {"NodeCertExpiry": 60000000000}}`, 400, "CAConfig.NodeCertExpiry"},
		{"swarm unknown field", "POST", "/swarm/update?version=1", `{"Raft": {"Ticks": 3}}`, 400, `unknown field "Ticks"`},
		{"bad rotate flag", "POST", "/swarm/update?version=1&rotateWorkerToken=perhaps", `{}`, 400, "invalid value for parameter rotateWorkerToken"},
		{"bad insertDefaults", "GET", "/services/web?insertDefaults=2", ``, 400, "invalid value for parameter insertDefaults"},
		{"unknown task filter", "GET", "/tasks?" + filters("colour", "red"), ``, 400, "invalid value for parameter filters: \"colour\""},
		{"unknown node filter", "GET", "/nodes?" + filters("service", "web"), ``, 400, "invalid value for parameter filters: \"service\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.body)
			if r.status != tc.status || !strings.Contains(r.message(), tc.msg) {
				t.Errorf("%d %.300q, want %d %q", r.status, r.message(), tc.status, tc.msg)
			}
		})
	}
	t.Run("content type", func(t *testing.T) {
		req, _ := http.NewRequest("POST", e.http.URL+"/services/create", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "text/plain")
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
}
