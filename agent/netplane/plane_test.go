package netplane

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/vishvananda/netlink"

	"github.com/shoal-dev/shoal/agent/exec"
	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/internal/testimage"
	"github.com/shoal-dev/shoal/model"
)

// TestRemotes: only endpoints on other hosts get entries; an endpoint of a
// node on this host (several agents on one engine) or of a node without a
// known address gets none. Other hosts' load-balancer addresses get
// entries too (the replies of connections they balanced), ours does not.
func TestRemotes(t *testing.T) {
	ns := protocol.NetworkState{
		Peers: []protocol.NetworkPeer{
			{NodeID: "me", Addr: "192.0.2.1", LBAddress: "10.0.1.250/24"}, {NodeID: "same-host", Addr: "192.0.2.1"},
			{NodeID: "b", Addr: "192.0.2.2:4242", LBAddress: "10.0.1.251/24"}, {NodeID: "c", Addr: "192.0.2.3"},
			{NodeID: "unknown", LBAddress: "10.0.1.253/24"},
		},
		Endpoints: []protocol.TaskEndpoint{
			{TaskID: "t1", NodeID: "me", Addresses: []string{"10.0.1.2/24"}},
			{TaskID: "t2", NodeID: "same-host", Addresses: []string{"10.0.1.3/24"}},
			{TaskID: "t3", NodeID: "b", Addresses: []string{"10.0.1.4/24"}},
			{TaskID: "t4", NodeID: "c", Addresses: []string{"10.0.1.5/24", "bad"}},
			{TaskID: "t5", NodeID: "unknown", Addresses: []string{"10.0.1.6/24"}},
			{TaskID: "t6", NodeID: "gone", Addresses: []string{"10.0.1.7/24"}},
		},
	}
	got := remotes(ns, netip.MustParseAddr("192.0.2.1"))
	want := []Remote{{ip("10.0.1.251"), ip("192.0.2.2")}, {ip("10.0.1.4"), ip("192.0.2.2")}, {ip("10.0.1.5"), ip("192.0.2.3")}}
	if !slices.Equal(got, want) {
		t.Fatalf("remotes %v, want %v", got, want)
	}
	if MAC(ip("10.0.1.4")).String() != "02:42:0a:00:01:04" {
		t.Fatalf("MAC %s", MAC(ip("10.0.1.4")))
	}
}

// TestPlaneMakesAndRemovesANetwork runs a plane against the machine's
// engine: a network in the view is attached (the Docker network with the
// network's subnet, gateway, MTU, labels and Internal flag), reconciled
// (the VXLAN device in its bridge with the remote endpoint's entries),
// repaired, and removed with its device when the plane stops once it has
// left the view.
func TestPlaneMakesAndRemovesANetwork(t *testing.T) {
	h := throwawayNetns(t) // skips without root; only to check root here
	_ = h
	cli := testimage.Client(t)
	cfg := DefaultConfig()
	cfg.Docker = cli
	cfg.NodeID = "node-a"
	cfg.LockDir = t.TempDir()
	cfg.Interval = 100 * time.Millisecond
	cfg.RemoveGrace = time.Hour
	cfg.UnderlayMTU = 1400
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A subnet of its own (198.18.0.0/15 is for benchmarks: no one
	// routes it), an ID no other test uses.
	id := "nptest" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	n := &model.Network{ID: id, VNI: 4321 + uint32(time.Now().UnixNano()%1000),
		Spec: model.NetworkSpec{Annotations: model.Annotations{Name: "plane-test"}, Driver: model.DriverOverlay, Internal: true},
		IPAM: []model.IPAMConfig{{Subnet: "198.18.77.0/24", Gateway: "198.18.77.1"}}}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		_ = cli.NetworkRemove(context.Background(), DockerNetworkName(id))
		_ = removeLink(&netlink.Handle{}, vxlanName(id))
	})

	// Not in the view: a temporary error.
	if _, err := p.Attach(ctx, id); !exec.IsTemporary(err) {
		t.Fatalf("attach before the view: %v, want a temporary error", err)
	}
	// The ingress network gets its bridge like the others: the routing
	// mesh reaches tasks over it.
	ingress := &model.Network{ID: id + "ing", VNI: 4096, Spec: model.NetworkSpec{Ingress: true},
		IPAM: []model.IPAMConfig{{Subnet: "198.18.76.0/24", Gateway: "198.18.76.1"}}}
	t.Cleanup(func() { _ = cli.NetworkRemove(context.Background(), DockerNetworkName(ingress.ID)) })
	p.SetView(&protocol.NetworkView{Networks: []protocol.NetworkState{{Network: ingress}}})
	if _, err := p.Attach(ctx, ingress.ID); err != nil {
		t.Fatalf("the ingress network: %v", err)
	}
	if err := cli.NetworkRemove(ctx, DockerNetworkName(ingress.ID)); err != nil {
		t.Fatal(err)
	}
	// The machine's own address as this node's underlay address.
	local := firstAddr(t)
	p.SetView(&protocol.NetworkView{Networks: []protocol.NetworkState{{
		Network: n,
		Peers:   []protocol.NetworkPeer{{NodeID: "node-a", Addr: local}, {NodeID: "node-b", Addr: "192.0.2.77"}},
		Endpoints: []protocol.TaskEndpoint{
			{TaskID: "t1", NodeID: "node-a", Addresses: []string{"198.18.77.2/24"}},
			{TaskID: "t2", NodeID: "node-b", Addresses: []string{"198.18.77.3/24"}},
		},
	}}})
	name, err := p.Attach(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cli.NetworkInspect(ctx, name, network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Driver != "bridge" || !got.Internal || got.Labels[LabelNetworkID] != id || got.Options[optMTU] != "1350" ||
		len(got.IPAM.Config) != 1 || got.IPAM.Config[0].Subnet != "198.18.77.0/24" || got.IPAM.Config[0].Gateway != "198.18.77.1" {
		t.Fatalf("docker network %+v", got)
	}

	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	waitUntil(t, "the VXLAN device with the remote endpoint", func() bool {
		l, err := netlink.LinkByName(vxlanName(id))
		if err != nil {
			return false
		}
		br, err := netlink.LinkByName(bridgeName(id))
		if err != nil || l.Attrs().MasterIndex != br.Attrs().Index {
			return false
		}
		fdb, _ := netlink.NeighList(l.Attrs().Index, 7 /* AF_BRIDGE */)
		for _, e := range fdb {
			if e.IP.String() == "192.0.2.77" && e.HardwareAddr.String() == "02:42:c6:12:4d:03" {
				return true
			}
		}
		return false
	})

	// Docker recreates the bridge (here: the network removed and made
	// again by someone): the device is enslaved again.
	if err := cli.NetworkRemove(ctx, name); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the network and its device back", func() bool {
		l, err := netlink.LinkByName(vxlanName(id))
		br, berr := netlink.LinkByName(bridgeName(id))
		return err == nil && berr == nil && l.Attrs().MasterIndex == br.Attrs().Index
	})

	// Out of the view: kept for RemoveGrace (another agent of the engine
	// may be about to use it), removed, device and all, when the plane
	// stops: nothing runs on it.
	p.SetView(&protocol.NetworkView{})
	time.Sleep(5 * cfg.Interval) // reconciles with the empty view
	if _, err := cli.NetworkInspect(ctx, name, network.InspectOptions{}); err != nil {
		t.Fatalf("removed within its grace: %v", err)
	}
	cancel()
	<-done
	if _, err := cli.NetworkInspect(context.Background(), name, network.InspectOptions{}); err == nil {
		t.Fatal("the network outlived the plane with nothing on it")
	}
	if _, err := netlink.LinkByName(vxlanName(id)); err == nil {
		t.Fatal("the VXLAN device outlived the plane")
	}
}

func firstAddr(t *testing.T) string {
	t.Helper()
	routes, err := netlink.RouteGet(netip.MustParseAddr("192.0.2.77").AsSlice())
	if err != nil || len(routes) == 0 || routes[0].Src == nil {
		t.Skipf("no route to pick a source address from: %v", err)
	}
	return routes[0].Src.String()
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}

// TestOneOwnerPerEngine: of two planes on one engine, one owns the data
// plane; when it stops, the other takes over.
func TestOneOwnerPerEngine(t *testing.T) {
	cli := testimage.Client(t)
	dir := t.TempDir()
	planes := make([]*Plane, 2)
	for i := range planes {
		cfg := DefaultConfig()
		cfg.Docker, cfg.NodeID, cfg.LockDir = cli, "node-"+strconv.Itoa(i), dir
		p, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		planes[i] = p
	}
	ctx := context.Background()
	for _, p := range planes {
		if err := p.tryOwn(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if planes[0].owner == nil || planes[1].owner != nil {
		t.Fatalf("owners: %v %v, want the first only", planes[0].owner != nil, planes[1].owner != nil)
	}
	planes[0].used = true
	planes[0].shutdown()
	if err := planes[1].tryOwn(ctx); err != nil || planes[1].owner == nil {
		t.Fatalf("the second does not take over: %v", err)
	}
	planes[1].owner.Close()
}
