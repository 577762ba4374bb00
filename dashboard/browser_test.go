package dashboard_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/dashboard"
	"github.com/shoal-dev/shoal/internal/browser"
	"github.com/shoal-dev/shoal/internal/simnode"
	"github.com/shoal-dev/shoal/manager"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/node"
	"github.com/shoal-dev/shoal/state"
)

// These tests run real managers in process (real Raft on disk, real
// TLS) with simulated worker nodes (internal/simnode: the real agent,
// only the container engine simulated), and look at the dashboard in a
// real headless Chromium, asserting on the DOM its scripts built. Each
// scenario leaves a screenshot in the directory the test log names.

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func testConfig(t *testing.T, name string) manager.Config {
	t.Helper()
	cfg := manager.DefaultConfig(filepath.Join(t.TempDir(), name))
	addr := freeAddr(t)
	cfg.Settings = node.Settings{Hostname: name, ListenAddr: addr, AdvertiseAddr: addr}
	cfg.Settings.UIAddr = freeAddr(t)
	cfg.Logger = slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})).With("m", name)
	return cfg
}

// start runs m until the returned function or the test's end stops it.
func start(t *testing.T, m *manager.Manager) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Errorf("manager %s did not stop", m.NodeID())
		}
	}
	t.Cleanup(stop)
	select {
	case <-m.Ready():
	case err := <-done:
		t.Fatalf("manager failed to start: %v", err)
	}
	return stop
}

func waitFor(t *testing.T, what string, timeout time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func clusterOf(m *manager.Manager) *model.Cluster {
	var c *model.Cluster
	_ = m.Store().View(func(tx state.ReadTx) error { c = tx.Cluster(); return nil })
	return c
}

func propose(t *testing.T, m *manager.Manager, ops ...state.Op) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := m.Raft().Propose(ctx, state.NewCommand(ops...))
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		t.Fatalf("propose: %v", err)
	}
}

func createService(t *testing.T, m *manager.Manager, name string, replicas uint64) string {
	t.Helper()
	svc := &model.Service{ID: model.NewID(), Spec: model.ServiceSpec{
		Annotations: model.Annotations{Name: name},
		Task:        model.TaskSpec{Container: model.ContainerSpec{Image: "demo:" + name}},
		Mode:        model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: replicas}},
	}}
	propose(t, m, state.Op{Type: state.OpCreateService, Service: svc})
	return svc.ID
}

// running counts the running tasks per node.
func running(m *manager.Manager) map[string]int {
	out := map[string]int{}
	_ = m.Store().View(func(tx state.ReadTx) error {
		return tx.ForEachTask(state.All, func(t *model.Task) bool {
			if t.Status.State == model.TaskStateRunning && t.DesiredState == model.TaskStateRunning {
				out[t.NodeID]++
			}
			return true
		})
	})
	return out
}

func sum(m map[string]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}

// fleet joins n simulated worker nodes to the managers.
func fleet(t *testing.T, m *manager.Manager, n int, addrs ...string) *simnode.Fleet {
	t.Helper()
	ctx := context.Background()
	f, err := simnode.Join(ctx, simnode.Config{
		Managers: addrs, Token: clusterOf(m).RootCA.JoinTokens.Worker, Nodes: n,
		NanoCPUs: 4e9, MemoryBytes: 8 << 30, DataDir: t.TempDir(),
	})
	if err != nil {
		t.Fatalf("joining simulated nodes: %v", err)
	}
	f.Start(ctx, 0)
	t.Cleanup(f.Stop)
	waitFor(t, "the simulated nodes ready", 20*time.Second, func() bool {
		ready := 0
		_ = m.Store().View(func(tx state.ReadTx) error {
			nodes, _ := tx.FindNodes(state.ByRole(model.RoleWorker))
			for _, n := range nodes {
				if n.Status.State == model.NodeStateReady {
					ready++
				}
			}
			return nil
		})
		return ready == n
	})
	return f
}

// openPage starts a browser on url and waits for the first render.
func openPage(t *testing.T, url string) *browser.Browser {
	t.Helper()
	path := browser.Require(t)
	b, err := browser.Start(context.Background(), browser.Config{ExecPath: path, Width: 1400, Height: 1000, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if err := b.Navigate(url); err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
	if err := b.WaitFor(`document.body.dataset.rendered === "true"`, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return b
}

func waitDOM(t *testing.T, b *browser.Browser, what, cond string, timeout time.Duration) {
	t.Helper()
	if err := b.WaitFor(cond, timeout); err != nil {
		dom, _ := browser.Eval[string](b, `document.body.innerText`)
		t.Fatalf("the page never showed %s: %v\npage text:\n%s", what, err, dom)
	}
}

func eval[T any](t *testing.T, b *browser.Browser, js string) T {
	t.Helper()
	v, err := browser.Eval[T](b, js)
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// screenshotDir is where a test's screenshots go, kept after the test
// for people to look at: $SHOAL_SCREENSHOTS/TestName if set, else a new
// directory under the system's temp dir. The test log names it.
func screenshotDir(t *testing.T) string {
	t.Helper()
	var dir string
	var err error
	if root := os.Getenv("SHOAL_SCREENSHOTS"); root != "" {
		dir = filepath.Join(root, t.Name())
		err = os.MkdirAll(dir, 0o755)
	} else {
		dir, err = os.MkdirTemp("", "shoal-"+t.Name()+"-")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

func screenshot(t *testing.T, b *browser.Browser, dir, name string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := b.Screenshot(p); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	t.Logf("screenshot: %s", p)
}

// svcCond is a JavaScript condition: the services table shows name with
// running tasks of desired.
func svcCond(name string, running, desired int) string {
	return fmt.Sprintf(`(() => { const r = document.querySelector('#services tr[data-service-name=%q]');
		return r && r.dataset.running === "%d" && r.dataset.desired === "%d"; })()`, name, running, desired)
}

func TestDashboardShowsTheClusterLive(t *testing.T) {
	cfg := testConfig(t, "m1")
	m, err := manager.Init(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start(t, m)
	waitFor(t, "the cluster object", 10*time.Second, func() bool { return clusterOf(m) != nil })
	fleet(t, m, 3, m.Addr())
	createService(t, m, "web", 6)
	waitFor(t, "6 web tasks running", 20*time.Second, func() bool { return sum(running(m)) == 6 })
	shots := screenshotDir(t)

	b := openPage(t, m.DashboardURL())
	var hosts []string
	_ = m.Store().View(func(tx state.ReadTx) error {
		nodes, _ := tx.FindNodes(state.All)
		for _, n := range nodes {
			hosts = append(hosts, n.Description.Hostname)
		}
		return nil
	})
	for _, h := range hosts {
		waitDOM(t, b, "node "+h, fmt.Sprintf(`[...document.querySelectorAll('.node-host')].some(e => e.firstChild.textContent === %q)`, h), 5*time.Second)
	}
	waitDOM(t, b, "web 6/6", svcCond("web", 6, 6), 5*time.Second)
	waitDOM(t, b, "the leader mark on m1", `(() => { const l = document.querySelectorAll('.node[data-leader] .node-host');
		return l.length === 1 && l[0].firstChild.textContent === "m1"; })()`, 5*time.Second)
	waitDOM(t, b, "6 running task cards", `document.querySelectorAll('.task[data-state="running"]').length === 6`, 5*time.Second)
	waitDOM(t, b, "the Raft view", `document.querySelectorAll('#raft tbody tr').length === 1 && document.getElementById('raft-summary').dataset.canLose === "0"`, 5*time.Second)
	waitDOM(t, b, "the creation of web in the events", `[...document.querySelectorAll('#events li')].some(e => e.textContent.includes("service create web"))`, 5*time.Second)
	if stale := eval[bool](t, b, `document.body.classList.contains("stale")`); stale {
		t.Errorf("a healthy cluster's page is marked stale: %s", eval[string](t, b, `document.getElementById("stale").textContent`))
	}
	screenshot(t, b, shots, "1-loaded.png")

	// A service created after the page loaded appears without a reload.
	eval[bool](t, b, `window.notReloaded = true`)
	createService(t, m, "api", 3)
	waitDOM(t, b, "the new service api 3/3", svcCond("api", 3, 3), 15*time.Second)
	waitDOM(t, b, "9 running task cards", `document.querySelectorAll('.task[data-state="running"]').length === 9`, 5*time.Second)
	if !eval[bool](t, b, `window.notReloaded === true`) {
		t.Fatal("the page was reloaded")
	}
	screenshot(t, b, shots, "2-new-service.png")

	// Draining a node moves its tasks to the others, on the page too.
	var drained *model.Node
	before := running(m)
	_ = m.Store().View(func(tx state.ReadTx) error {
		nodes, _ := tx.FindNodes(state.ByRole(model.RoleWorker))
		for _, n := range nodes {
			if before[n.ID] > 0 && (drained == nil || before[n.ID] > before[drained.ID]) {
				drained = n
			}
		}
		return nil
	})
	if drained == nil {
		t.Fatal("no worker runs a task")
	}
	onDrained := fmt.Sprintf(`document.querySelectorAll('.node[data-node-id=%q] .task').length`, drained.ID)
	if n := eval[int](t, b, onDrained); n != before[drained.ID] {
		t.Fatalf("the page shows %d tasks on %s, the store %d", n, drained.Description.Hostname, before[drained.ID])
	}
	upd := drained.Copy()
	upd.Spec.Availability = model.AvailabilityDrain
	propose(t, m, state.Op{Type: state.OpUpdateNode, Node: upd, Version: drained.Version.Index})
	waitFor(t, "the drained node's tasks moved", 20*time.Second, func() bool {
		r := running(m)
		return r[drained.ID] == 0 && sum(r) == 9
	})
	waitDOM(t, b, "no task on the drained node", onDrained+` === 0`, 10*time.Second)
	waitDOM(t, b, "the drained node's availability", fmt.Sprintf(`document.querySelector('.node[data-node-id=%q]').dataset.avail === "drain"`, drained.ID), 5*time.Second)
	waitDOM(t, b, "9 running tasks elsewhere", `document.querySelectorAll('.task[data-state="running"]').length === 9`, 10*time.Second)
	waitDOM(t, b, "web and api whole", svcCond("web", 6, 6)+" && "+svcCond("api", 3, 3), 10*time.Second)
	waitDOM(t, b, "the drain in the events", `[...document.querySelectorAll('#events li')].some(e => e.textContent.includes("availability drain"))`, 5*time.Second)
	screenshot(t, b, shots, "3-drained.png")

	// A service that cannot be placed says why its tasks are pending.
	svc := &model.Service{ID: model.NewID(), Spec: model.ServiceSpec{
		Annotations: model.Annotations{Name: "big"},
		Task: model.TaskSpec{Container: model.ContainerSpec{Image: "demo:big"},
			Resources: model.ResourceRequirements{Reservations: model.Resources{MemoryBytes: 64 << 30}}},
		Mode: model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: 2}},
	}}
	propose(t, m, state.Op{Type: state.OpCreateService, Service: svc})
	waitDOM(t, b, "why big's tasks are pending", `(() => { const r = document.querySelector('#services tr[data-service-name="big"]');
		return r && /2 pending: .*(memory|suitable)/.test(r.querySelector('.reason').textContent); })()`, 15*time.Second)
	t.Logf("pending reason shown: %s", eval[string](t, b, `document.querySelector('#services tr[data-service-name="big"] .reason').textContent`))
	screenshot(t, b, shots, "4-pending.png")

	// A rolling update of web, one task at a time: the page shows its
	// state and progress, then its completion.
	var web *model.Service
	_ = m.Store().View(func(tx state.ReadTx) error {
		ss, _ := tx.FindServices(state.ByName("web"))
		web = ss[0]
		return nil
	})
	upd2 := web.Copy()
	prev := web.Spec.Copy()
	upd2.Spec.Task.Container.Image = "demo:web-v2"
	upd2.Spec.Update = &model.UpdateConfig{Parallelism: 1, Delay: 700 * time.Millisecond, Order: model.UpdateOrderStopFirst, FailureAction: model.FailureActionPause}
	upd2.PreviousSpec, upd2.PreviousSpecVersion, upd2.UpdateStatus = &prev, web.SpecVersion, nil
	propose(t, m, state.Op{Type: state.OpUpdateService, Service: upd2, Version: web.Version.Index})
	webUpdate := `document.querySelector('#services tr[data-service-name="web"] .svc-update')`
	waitDOM(t, b, "web updating, with progress", webUpdate+`.textContent.startsWith("updating") && `+webUpdate+`.querySelector('.progress')`, 10*time.Second)
	waitDOM(t, b, "progress under way", `/updating [1-5]\/6/.test(`+webUpdate+`.textContent)`, 10*time.Second)
	t.Logf("update shown: %s", eval[string](t, b, webUpdate+`.textContent`))
	screenshot(t, b, shots, "5-rolling-update.png")
	waitDOM(t, b, "web's update completed", webUpdate+`.textContent === "completed" && `+svcCond("web", 6, 6), 20*time.Second)
}

// TestDashboardIsReadOnly checks that only GET and HEAD are answered.
func TestDashboardIsReadOnly(t *testing.T) {
	cfg := testConfig(t, "m1")
	m, err := manager.Init(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start(t, m)
	base := m.DashboardURL()
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("a loopback dashboard is served at %q, want plain HTTP", base)
	}
	cases := []struct {
		method, path string
		want         int
	}{
		{"GET", "", http.StatusOK},
		{"GET", "app.js", http.StatusOK},
		{"HEAD", "", http.StatusOK},
		{"POST", "", http.StatusMethodNotAllowed},
		{"PUT", "", http.StatusMethodNotAllowed},
		{"DELETE", "", http.StatusMethodNotAllowed},
		{"PATCH", "", http.StatusMethodNotAllowed},
		{"POST", "api/stream", http.StatusMethodNotAllowed},
		{"DELETE", "api/stream", http.StatusMethodNotAllowed},
		{"PUT", "index.html", http.StatusMethodNotAllowed},
		{"GET", "nothing-here", http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.method+" /"+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader("{}"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("%s /%s: %s, want %d", tc.method, tc.path, resp.Status, tc.want)
			}
			if tc.want == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow: %q", resp.Header.Get("Allow"))
			}
		})
	}
}

// TestDashboardBoundsItsStreams checks that a manager serves at most
// MaxStreams pages at once, and takes a new one when one leaves.
func TestDashboardBoundsItsStreams(t *testing.T) {
	m, err := manager.Init(testConfig(t, "m1"))
	if err != nil {
		t.Fatal(err)
	}
	start(t, m)
	url := m.DashboardURL() + "api/stream"
	open := func() (*http.Response, context.CancelFunc) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		return resp, cancel
	}
	limit := dashboard.DefaultConfig().MaxStreams
	var cancels []context.CancelFunc
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	for i := range limit {
		resp, cancel := open()
		cancels = append(cancels, cancel)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: %s", i+1, resp.Status)
		}
		// Read up to the snapshot: the stream is being served.
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		if err != nil || line != "retry: 1000\n" {
			t.Fatalf("stream %d: %q %v", i+1, line, err)
		}
	}
	resp, cancel := open()
	resp.Body.Close()
	cancel()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("stream %d of %d: %s, want 503 with a Retry-After", limit+1, limit, resp.Status)
	}
	// A page refused for that tries again by itself, and gets in once a
	// page leaves.
	path := browser.Require(t)
	b, err := browser.Start(context.Background(), browser.Config{ExecPath: path, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Navigate(m.DashboardURL()); err != nil {
		t.Fatal(err)
	}
	waitDOM(t, b, "the page disconnected", `document.getElementById("conn").dataset.state === "disconnected"`, 5*time.Second)
	if ok := eval[bool](t, b, `document.body.dataset.rendered === "true"`); ok {
		t.Fatal("a refused page rendered")
	}
	cancels[0]()
	cancels = cancels[1:]
	waitDOM(t, b, "the page live once a slot freed", `document.getElementById("conn").dataset.state === "live" && document.body.dataset.rendered === "true"`, 15*time.Second)
}

// TestDashboardServesHTTPSOffLoopback checks that an address that is not
// loopback gets HTTPS with the manager's certificate, and no plain HTTP.
func TestDashboardServesHTTPSOffLoopback(t *testing.T) {
	cfg := testConfig(t, "m1")
	_, port, _ := net.SplitHostPort(cfg.Settings.UIAddr)
	cfg.Settings.UIAddr = net.JoinHostPort("0.0.0.0", port)
	m, err := manager.Init(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start(t, m)
	if !strings.HasPrefix(m.DashboardURL(), "https://") {
		t.Fatalf("dashboard at %q, want HTTPS", m.DashboardURL())
	}
	url := "https://127.0.0.1:" + port + "/"
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(m.Credentials().Root().CertPEM())
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // the certificate names the node, not 127.0.0.1: checked below
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots})
			return err
		},
	}}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("HTTPS with the cluster's CA: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "shoal") {
		t.Fatalf("GET %s: %s %.80q", url, resp.Status, body)
	}
	if id := resp.TLS.PeerCertificates[0].Subject.CommonName; id != m.NodeID() {
		t.Errorf("served with the certificate of %q, want the manager's (%s)", id, m.NodeID())
	}
	resp, err = (&http.Client{Timeout: 5 * time.Second}).Get("http://127.0.0.1:" + port + "/")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP is served off loopback")
		}
	}
}

// TestDashboardThroughLeaderChangeAndQuorumLoss watches a three-manager
// cluster from a follower's dashboard: the leader mark follows a new
// leader, the lost manager shows unreachable and the page says one more
// loss is fatal; with a second manager gone the page marks its data
// stale; with the managers back it is live again, and after its own
// manager restarts the page reconnects by itself.
func TestDashboardThroughLeaderChangeAndQuorumLoss(t *testing.T) {
	cfgs := []manager.Config{testConfig(t, "m1"), testConfig(t, "m2"), testConfig(t, "m3")}
	m1, err := manager.Init(cfgs[0])
	if err != nil {
		t.Fatal(err)
	}
	stops := []func(){start(t, m1)}
	waitFor(t, "the cluster object", 10*time.Second, func() bool { return clusterOf(m1) != nil })
	ms := []*manager.Manager{m1}
	for _, cfg := range cfgs[1:] {
		m, err := manager.Join(context.Background(), cfg, clusterOf(m1).RootCA.JoinTokens.Manager, m1.Addr())
		if err != nil {
			t.Fatal(err)
		}
		stops = append(stops, start(t, m))
		ms = append(ms, m)
	}
	waitFor(t, "three voters", 20*time.Second, func() bool {
		members, err := m1.Raft().Members()
		return err == nil && len(members) == 3
	})
	createService(t, m1, "web", 0)
	shots := screenshotDir(t)

	// The page talks to m2, a follower; m1 leads.
	if !m1.Raft().IsLeader() {
		t.Fatal("m1 does not lead")
	}
	b := openPage(t, ms[1].DashboardURL())
	leaderIs := func(name string) string {
		return fmt.Sprintf(`(() => { const l = document.querySelectorAll('.node[data-leader] .node-host');
			return l.length === 1 && l[0].firstChild.textContent === %q; })()`, name)
	}
	canLose := func(n int) string {
		return fmt.Sprintf(`document.getElementById('raft-summary').dataset.canLose === "%d"`, n)
	}
	waitDOM(t, b, "m1 leading, 3 managers answering", leaderIs("m1")+" && "+canLose(1)+
		` && document.querySelectorAll('#raft tbody tr:not(.unreachable)').length === 3`, 10*time.Second)
	waitDOM(t, b, "web", `document.querySelector('#services tr[data-service-name="web"]')`, 5*time.Second)
	screenshot(t, b, shots, "1-three-managers.png")

	// The leader goes: m2 or m3 takes over, the page follows.
	stops[0]()
	waitDOM(t, b, "a new leader", `(() => { const l = document.querySelectorAll('.node[data-leader] .node-host');
		return l.length === 1 && l[0].firstChild.textContent !== "m1"; })()`, 20*time.Second)
	waitDOM(t, b, "m1 unreachable, no more loss allowed", canLose(0)+
		fmt.Sprintf(` && document.querySelector('#raft tr[data-manager-id=%q]').classList.contains("unreachable")`, m1.NodeID()), 10*time.Second)
	if stale := eval[bool](t, b, `document.body.classList.contains("stale")`); stale {
		t.Errorf("the page is stale with a quorum: %s", eval[string](t, b, `document.getElementById("stale").textContent`))
	}
	screenshot(t, b, shots, "2-leader-lost.png")

	// m3 goes too: m2 is alone, without a quorum. Its page says so.
	stops[2]()
	waitDOM(t, b, "the stale mark", `document.body.classList.contains("stale") && !document.getElementById("stale").hidden`, 20*time.Second)
	t.Logf("stale banner: %s", eval[string](t, b, `document.getElementById("stale").textContent`))
	screenshot(t, b, shots, "3-quorum-lost.png")

	// m1 comes back: a quorum again, the page is live.
	m1b, err := manager.Open(cfgs[0])
	if err != nil {
		t.Fatal(err)
	}
	start(t, m1b)
	waitDOM(t, b, "live again", `!document.body.classList.contains("stale") && document.querySelectorAll('.node[data-leader]').length === 1`, 30*time.Second)

	// m2, the page's manager, restarts (m3 is back, so m1 and m3 keep a
	// quorum): the page reconnects by itself and sees a service created
	// while it was away.
	m3b, err := manager.Open(cfgs[2])
	if err != nil {
		t.Fatal(err)
	}
	start(t, m3b)
	waitDOM(t, b, "three managers again", canLose(1), 30*time.Second)
	stops[1]()
	waitDOM(t, b, "disconnected", `document.getElementById("conn").dataset.state === "disconnected"`, 10*time.Second)
	eval[bool](t, b, `window.notReloaded = true`)
	var leader *manager.Manager
	waitFor(t, "a leader", 20*time.Second, func() bool {
		for _, m := range []*manager.Manager{m1b, m3b} {
			if m.Raft().IsLeader() {
				leader = m
			}
		}
		return leader != nil
	})
	createService(t, leader, "after-restart", 0)
	m2b, err := manager.Open(cfgs[1])
	if err != nil {
		t.Fatal(err)
	}
	start(t, m2b)
	waitDOM(t, b, "the page reconnected, with the new service", `document.getElementById("conn").dataset.state === "live" &&
		document.querySelector('#services tr[data-service-name="after-restart"]') && window.notReloaded === true`, 30*time.Second)
	screenshot(t, b, shots, "4-reconnected.png")
}

// TestDashboardAddressIsRemembered checks that `manager run` serves the
// dashboard init was told to serve, and that --ui-addr off stops it.
func TestDashboardAddressIsRemembered(t *testing.T) {
	cfg := testConfig(t, "m1")
	m, err := manager.Init(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, m)
	want := m.DashboardURL()
	stop()

	run := manager.DefaultConfig(cfg.DataDir) // `manager run --data-dir DIR`
	run.Logger = cfg.Logger
	m, err = manager.Open(run)
	if err != nil {
		t.Fatal(err)
	}
	stop = start(t, m)
	if got := m.DashboardURL(); got != want {
		t.Fatalf("after run: dashboard at %q, want %q (remembered from init)", got, want)
	}
	resp, err := http.Get(want)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	stop()

	run.Settings.UIAddr = manager.UIAddrOff
	m, err = manager.Open(run)
	if err != nil {
		t.Fatal(err)
	}
	start(t, m)
	if got := m.DashboardURL(); got != "" {
		t.Fatalf("after run --ui-addr off: dashboard at %q", got)
	}
	if resp, err := http.Get(want); err == nil {
		resp.Body.Close()
		t.Fatalf("after run --ui-addr off: %s answers %s", want, resp.Status)
	}
}
