package agent_test

// These tests run a real rafttest cluster whose members serve the
// dispatcher on real TLS cluster ports on 127.0.0.1, and agents with the
// real Docker executor and the demo image (they skip when no engine
// answers). Every agent uses its own node ID; every container labelled
// with one of the test's node IDs is removed when the test ends.

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/shoal-dev/shoal/agent"
	"github.com/shoal-dev/shoal/agent/exec"
	"github.com/shoal-dev/shoal/agent/exec/dockerexec"
	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/dispatcher"
	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/internal/testimage"
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/state/raft/rafttest"
	"github.com/shoal-dev/shoal/transport"
)

const waitTimeout = 30 * time.Second

type world struct {
	t       *testing.T
	root    *ca.RootCA
	cluster string
	c       *rafttest.Cluster
	cli     *client.Client // nil without Docker
	image   string

	mu       sync.Mutex
	managers map[string]*manager
}

type manager struct {
	addr string
	d    *dispatcher.Dispatcher
	srv  *http.Server
	mux  *transport.Mux
}

// dockerWorld returns a world with a Docker client and the demo image
// (without healthcheck, so tasks run as soon as they start), or skips.
func dockerWorld(t *testing.T, managers int) *world {
	cli := testimage.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	img, err := testimage.EnsureVariant(ctx, cli, testimage.NoHealthcheck)
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, managers)
	w.cli, w.image = cli, img
	return w
}

// newWorld starts managers with a 250 ms heartbeat period.
func newWorld(t *testing.T, n int) *world {
	t.Helper()
	root, err := ca.CreateRootCA()
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, root: root, cluster: model.NewID(), managers: map[string]*manager{}}
	w.c = rafttest.New(t, n, func(c *rafttest.Cluster) { c.OnStart = w.startManager })
	leader := w.c.Leader(waitTimeout)
	spec := model.DefaultClusterSpec()
	spec.Dispatcher.HeartbeatPeriod = 250 * time.Millisecond
	ops := []state.Op{{Type: state.OpCreateCluster, Cluster: &model.Cluster{ID: w.cluster, Spec: spec}}}
	for _, m := range w.c.Members {
		ops = append(ops, state.Op{Type: state.OpCreateNode, Node: &model.Node{
			ID:            m.ID,
			Spec:          model.NodeSpec{DesiredRole: model.RoleManager, Availability: model.AvailabilityActive},
			Role:          model.RoleManager,
			ManagerStatus: &model.ManagerStatus{Addr: w.manager(m.ID).addr},
		}})
	}
	w.propose(ops...)
	w.c.WaitConverged(waitTimeout) // followers know the managers' addresses too
	_ = leader
	return w
}

func (w *world) cert(nodeID string, role model.NodeRole) tls.Certificate {
	w.t.Helper()
	return testutil.IssueNode(w.t, w.root, nodeID, role, w.cluster, time.Hour).TLS
}

func (w *world) startManager(m *rafttest.Member) {
	t := w.t
	node := m.Node
	cfg := dispatcher.DefaultConfig()
	cfg.Identify = dispatcher.PeerIdentity
	cfg.Leader = node.Leader
	cfg.Logger = testutil.Logger(t, slog.LevelInfo).With("manager", m.ID)
	d := dispatcher.New(m.Store, node, cfg)
	node.OnLeader(func(ctx context.Context) {
		if err := d.Run(ctx); err != nil {
			t.Errorf("dispatcher on %s: %v", m.ID, err)
		}
	})
	serverTLS, err := ca.ServerTLSConfig(w.cert(m.ID, model.RoleManager), w.root, ca.WithLogger(testutil.Logger(t, slog.LevelError)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := transport.New(ln, transport.Config{TLS: serverTLS, Logger: testutil.Logger(t, slog.LevelError)})
	go mux.Serve()
	httpMux := http.NewServeMux()
	httpMux.Handle(protocol.PathPrefix, d.Handler())
	srv := &http.Server{Handler: httpMux}
	go srv.Serve(mux.HTTPListener())
	mg := &manager{addr: ln.Addr().String(), d: d, srv: srv, mux: mux}
	w.mu.Lock()
	w.managers[m.ID] = mg
	w.mu.Unlock()
	t.Cleanup(mg.close)
}

func (m *manager) close() {
	m.srv.Close()
	m.mux.Close()
	m.d.Stop()
}

func (w *world) manager(id string) *manager {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.managers[id]
}

func (w *world) leader() *rafttest.Member { return w.c.Leader(waitTimeout) }

// kill stops a member as a crash would: its port closes, then Raft stops.
func (w *world) kill(m *rafttest.Member) {
	w.manager(m.ID).close()
	w.c.Stop(m)
}

func (w *world) propose(ops ...state.Op) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	res, err := w.leader().Node.Propose(ctx, state.NewCommand(ops...))
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		w.t.Fatalf("propose %s: %v", ops[0].Type, err)
	}
}

func (w *world) view(fn func(tx state.ReadTx)) {
	_ = w.leader().Store.View(func(tx state.ReadTx) error { fn(tx); return nil })
}

func (w *world) node(id string) *model.Node {
	var n *model.Node
	w.view(func(tx state.ReadTx) { n = tx.GetNode(id) })
	return n
}

func (w *world) task(id string) *model.Task {
	var t *model.Task
	w.view(func(tx state.ReadTx) { t = tx.GetTask(id) })
	return t
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (w *world) waitNode(id string, st model.NodeState) *model.Node {
	w.t.Helper()
	var n *model.Node
	waitFor(w.t, waitTimeout, "node "+id+" "+string(st), func() bool {
		n = w.node(id)
		return n != nil && n.Status.State == st
	})
	return n
}

func (w *world) waitTask(id string, st model.TaskState) *model.Task {
	w.t.Helper()
	var t *model.Task
	waitFor(w.t, waitTimeout, "task "+id+" "+st.String(), func() bool {
		t = w.task(id)
		return t != nil && t.Status.State == st
	})
	return t
}

// addNode creates a worker node and removes its containers when the test
// ends.
func (w *world) addNode(id string) {
	w.propose(state.Op{Type: state.OpCreateNode, Node: &model.Node{
		ID:   id,
		Spec: model.NodeSpec{DesiredRole: model.RoleWorker, Availability: model.AvailabilityActive},
		Role: model.RoleWorker,
	}})
	if w.cli != nil {
		w.t.Cleanup(func() { removeNodeContainers(w.t, w.cli, id) })
	}
}

// addService creates a service whose tasks are assigned to the nodes
// given, one each, and returns its ID and the task IDs in that order.
func (w *world) addService(name string, args []string, nodes ...string) (string, []string) {
	w.t.Helper()
	grace := time.Second
	svc := &model.Service{ID: model.NewID(), Spec: model.ServiceSpec{
		Annotations: model.Annotations{Name: name},
		Task: model.TaskSpec{Container: model.ContainerSpec{
			Image: w.image, Args: args, StopGracePeriod: &grace,
		}},
		Mode: model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: uint64(len(nodes))}},
	}}
	w.propose(state.Op{Type: state.OpCreateService, Service: svc})
	var specVersion uint64
	w.view(func(tx state.ReadTx) { specVersion = tx.GetService(svc.ID).SpecVersion.Index })
	var nts []state.NewTask
	var as []state.Assignment
	var ids []string
	for i, n := range nodes {
		id := model.NewID()
		nts = append(nts, state.NewTask{ID: id, Slot: uint64(i + 1)})
		as = append(as, state.Assignment{TaskID: id, NodeID: n})
		ids = append(ids, id)
	}
	w.propose(state.Op{Type: state.OpCreateTasks, ID: svc.ID, SpecVersion: specVersion, NewTasks: nts},
		state.Op{Type: state.OpAssignTasks, Assignments: as})
	return svc.ID, ids
}

// runningAgent is an agent whose Run is in progress.
type runningAgent struct {
	a      *agent.Agent
	cancel context.CancelFunc
	done   chan error
}

// startAgent runs an agent of nodeID with its own certificate.
func (w *world) startAgent(nodeID, dataDir string, managers []string, ex exec.Executor, mod func(*agent.Config)) *runningAgent {
	w.t.Helper()
	cert := w.cert(nodeID, model.RoleWorker)
	tlsCfg, err := ca.ClientTLSConfig(&cert, w.root, ca.WithLogger(testutil.Logger(w.t, slog.LevelError)))
	if err != nil {
		w.t.Fatal(err)
	}
	if ex == nil {
		ex = w.executor(nodeID)
	}
	cfg := agent.DefaultConfig()
	cfg.DataDir = dataDir
	cfg.Managers = managers
	cfg.TLS = func() (*tls.Config, error) { return tlsCfg, nil }
	cfg.Executor = ex
	cfg.Hostname = "host-" + nodeID
	cfg.Labels = map[string]string{"zone": "test"}
	cfg.Logger = testutil.Logger(w.t, slog.LevelInfo)
	if mod != nil {
		mod(&cfg)
	}
	a, err := agent.New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	if a.NodeID() != nodeID {
		w.t.Fatalf("agent node ID %q from the certificate, want %q", a.NodeID(), nodeID)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ra := &runningAgent{a: a, cancel: cancel, done: make(chan error, 1)}
	go func() { ra.done <- a.Run(ctx) }()
	w.t.Cleanup(ra.stop)
	return ra
}

func (ra *runningAgent) stop() {
	ra.cancel()
	if err := <-ra.done; err != nil {
		panic(err)
	}
	ra.done <- nil // later stops return at once
}

func (w *world) executor(nodeID string) *dockerexec.Executor {
	ex, err := dockerexec.New(w.cli, nodeID, dockerexec.WithLogger(testutil.Logger(w.t, slog.LevelInfo)))
	if err != nil {
		w.t.Fatal(err)
	}
	return ex
}

// containerOf inspects a task's container by ID.
func (w *world) inspect(id string) (container.InspectResponse, error) {
	return w.cli.ContainerInspect(context.Background(), id)
}

// nodeContainers lists the containers labelled with a node's ID.
func (w *world) nodeContainers(nodeID string) []container.Summary {
	list, err := w.cli.ContainerList(context.Background(), container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", dockerexec.LabelNodeID+"="+nodeID)),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return list
}

func removeNodeContainers(t *testing.T, cli *client.Client, nodeID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := cli.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", dockerexec.LabelNodeID+"="+nodeID)),
	})
	if err != nil {
		t.Errorf("cleanup: list containers of %s: %v", nodeID, err)
		return
	}
	for _, c := range list {
		if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
			t.Errorf("cleanup: remove %s: %v", c.ID, err)
		}
	}
}

func newNodeID(prefix string) string { return prefix + "-" + model.NewID()[:10] }
