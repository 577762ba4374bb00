package allocator

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/allocator/ipam"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

const waitTimeout = 10 * time.Second

// storeProposer applies commands to a store as a one-manager Raft log
// would: each command is the next entry.
type storeProposer struct {
	mu    sync.Mutex
	store *state.Store
}

func (p *storeProposer) Propose(_ context.Context, cmd *state.Command) (state.Results, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Encode and decode, as the log does.
	b, err := cmd.Encode()
	if err != nil {
		return nil, err
	}
	dec, err := state.DecodeCommand(b)
	if err != nil {
		return nil, err
	}
	res := p.store.Apply(state.Entry{Index: p.store.Index() + 1, Cmd: dec})
	return res[0], nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func testConfig(t testing.TB) Config {
	cfg := DefaultConfig()
	cfg.Logger = testLogger(t)
	cfg.Debounce, cfg.MaxDelay = time.Millisecond, 5*time.Millisecond
	return cfg
}

// env is a store with an allocator running on it.
type env struct {
	t     *testing.T
	store *state.Store
	p     *storeProposer
	cfg   Config
	stop  func()
}

func newEnv(t *testing.T, spec model.ClusterSpec) *env {
	e := &env{t: t, store: state.NewStore(), cfg: testConfig(t)}
	e.p = &storeProposer{store: e.store}
	e.must(state.Op{Type: state.OpCreateCluster, Cluster: &model.Cluster{ID: "cluster", Spec: spec}})
	t.Cleanup(func() {
		if e.stop != nil {
			e.stop()
		}
	})
	return e
}

// start runs a new allocator (a new leader term) until stop.
func (e *env) start() {
	if e.stop != nil {
		e.stop()
	}
	a := New(e.store, e.p, e.cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	e.stop = func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("Run: %v", err)
		}
		e.stop = nil
	}
}

func (e *env) must(ops ...state.Op) state.Results {
	e.t.Helper()
	res, err := e.p.Propose(context.Background(), state.NewCommand(ops...))
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		e.t.Fatalf("write %v: %v", ops[0].Type, err)
	}
	return res
}

func (e *env) view(fn func(tx state.ReadTx)) {
	_ = e.store.View(func(tx state.ReadTx) error { fn(tx); return nil })
}

// eventually waits until cond holds on the store.
func (e *env) eventually(what string, cond func(tx state.ReadTx) error) {
	e.t.Helper()
	var err error
	for deadline := time.Now().Add(waitTimeout); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		_ = e.store.View(func(tx state.ReadTx) error { err = cond(tx); return nil })
		if err == nil {
			return
		}
	}
	e.t.Fatalf("%s: %v", what, err)
}

func ingressNetwork() *model.Network {
	return IngressNetwork("ingressid000000000000000")
}

func network(id, name, subnet string) *model.Network {
	n := &model.Network{ID: id, Spec: model.NetworkSpec{Annotations: model.Annotations{Name: name}, Driver: model.DriverOverlay}}
	if subnet != "" {
		n.Spec.IPAM = &model.IPAMOptions{Configs: []model.IPAMConfig{{Subnet: subnet}}}
	}
	return n
}

func service(id, name string, replicas uint64, nets []string, ports ...model.PortConfig) *model.Service {
	s := &model.Service{ID: id, Spec: model.ServiceSpec{
		Annotations: model.Annotations{Name: name},
		Task:        model.TaskSpec{Container: model.ContainerSpec{Image: "busybox"}},
		Mode:        model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: replicas}},
	}}
	for _, n := range nets {
		s.Spec.Task.Networks = append(s.Spec.Task.Networks, model.NetworkAttachmentConfig{Target: n, Aliases: []string{name}})
	}
	if len(ports) > 0 {
		s.Spec.Endpoint = &model.EndpointSpec{Ports: ports}
	}
	return s
}

// createTasks makes n tasks of service id, as the orchestrator would.
func (e *env) createTasks(serviceID string, from, n int) []string {
	var s *model.Service
	e.view(func(tx state.ReadTx) { s = tx.GetService(serviceID) })
	var ids []string
	var nts []state.NewTask
	for i := range n {
		id := fmt.Sprintf("%s-task-%04d", serviceID, from+i)
		ids = append(ids, id)
		nts = append(nts, state.NewTask{ID: id, Slot: uint64(from + i + 1)})
	}
	e.must(state.Op{Type: state.OpCreateTasks, ID: serviceID, SpecVersion: s.SpecVersion.Index, NewTasks: nts})
	return ids
}

// holdings collects every resource the store says is held, and fails the
// test if anything is held twice: the property every allocation test
// checks at the end.
func checkNoDoubleAllocation(t *testing.T, tx state.ReadTx) (addrs int) {
	t.Helper()
	networks, _ := tx.FindNetworks(state.All)
	subnets := map[string]string{}
	vnis := map[uint32]string{}
	held := map[string]string{} // "net/addr" -> holder
	hold := func(netID, cidr, who string) {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			t.Fatalf("%s holds %q: %v", who, cidr, err)
		}
		k := netID + "/" + p.Addr().String()
		if other, ok := held[k]; ok {
			t.Fatalf("address %s on network %s held by %s and %s", p.Addr(), netID, other, who)
		}
		held[k] = who
		addrs++
	}
	var prefixes []netip.Prefix
	for _, n := range networks {
		if !allocated(n) {
			continue
		}
		if other, ok := vnis[n.VNI]; ok {
			t.Fatalf("VXLAN ID %d held by networks %s and %s", n.VNI, other, n.ID)
		}
		if n.VNI < ipam.MinVXLANID {
			t.Fatalf("network %s has VXLAN ID %d", n.ID, n.VNI)
		}
		vnis[n.VNI] = n.ID
		p := netip.MustParsePrefix(n.IPAM[0].Subnet)
		for _, q := range prefixes {
			if q.Overlaps(p) {
				t.Fatalf("subnets %s and %s overlap", q, p)
			}
		}
		prefixes = append(prefixes, p)
		subnets[n.ID] = n.IPAM[0].Subnet
		hold(n.ID, n.IPAM[0].Gateway+"/32", "gateway of "+n.ID)
	}
	services, _ := tx.FindServices(state.All)
	ports := map[uint32]string{}
	for _, s := range services {
		if s.Endpoint == nil {
			continue
		}
		for _, v := range s.Endpoint.VirtualIPs {
			hold(v.NetworkID, v.Addr, "service "+s.ID)
		}
		for _, p := range s.Endpoint.Ports {
			if p.PublishedPort == 0 {
				t.Fatalf("service %s has an unallocated port %+v", s.ID, p)
			}
			if other, ok := ports[p.PublishedPort]; ok {
				t.Fatalf("port %d published by %s and %s", p.PublishedPort, other, s.ID)
			}
			ports[p.PublishedPort] = s.ID
		}
	}
	_ = tx.ForEachTask(state.All, func(task *model.Task) bool {
		if !live(task) {
			return true
		}
		for _, a := range task.Networks {
			for _, c := range a.Addresses {
				hold(a.NetworkID, c, "task "+task.ID)
			}
		}
		return true
	})
	nodes, _ := tx.FindNodes(state.All)
	for _, n := range nodes {
		for _, a := range n.Attachments {
			hold(a.NetworkID, a.Address, "node "+n.ID)
		}
	}
	return addrs
}
