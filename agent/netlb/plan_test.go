package netlb

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/model"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func bridgeOf(id string) string { return "shb" + id }

// testView: network app (this node's LB 10.9.0.250) with back (VIP, two
// running tasks, one not), front (VIP, no task yet) and a dnsrr service without VIP; the
// ingress network (LB 10.255.0.250) with back publishing 8080->80/tcp
// and a host-mode port; a network without LB address here.
func testView() *protocol.NetworkView {
	return &protocol.NetworkView{Networks: []protocol.NetworkState{
		{
			Network:   &model.Network{ID: "app"},
			LBAddress: "10.9.0.250/24",
			Endpoints: []protocol.TaskEndpoint{
				{TaskID: "t2", ServiceID: "back", NodeID: "n2", Addresses: []string{"10.9.0.12/24"}, Running: true},
				{TaskID: "t1", ServiceID: "back", NodeID: "n1", Addresses: []string{"10.9.0.11/24"}, Running: true},
				{TaskID: "t4", ServiceID: "back", NodeID: "n3", Addresses: []string{"10.9.0.14/24"}}, // not running
				{TaskID: "t3", ServiceID: "rr", NodeID: "n1", Addresses: []string{"10.9.0.31/24"}, Running: true},
			},
			Services: []protocol.ServiceVIP{
				{ServiceID: "front", ServiceName: "app_front", Addr: "10.9.0.3/24"},
				{ServiceID: "back", ServiceName: "app_back", Addr: "10.9.0.2/24"},
			},
		},
		{
			Network:   &model.Network{ID: "ingress", Spec: model.NetworkSpec{Ingress: true}},
			LBAddress: "10.255.0.250/16",
			Endpoints: []protocol.TaskEndpoint{
				{TaskID: "t1", ServiceID: "back", NodeID: "n1", Addresses: []string{"10.255.0.11/16"}, Running: true},
				{TaskID: "t2", ServiceID: "back", NodeID: "n2", Addresses: []string{"10.255.0.12/16"}, Running: true},
			},
			Services: []protocol.ServiceVIP{{ServiceID: "back", ServiceName: "app_back", Addr: "10.255.0.2/16", Ports: []model.PortConfig{
				{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: model.PublishModeIngress},
				{Protocol: "tcp", TargetPort: 81, PublishedPort: 8081, PublishMode: model.PublishModeHost},
			}}},
		},
		{
			Network:  &model.Network{ID: "nolb"},
			Services: []protocol.ServiceVIP{{ServiceID: "x", ServiceName: "x", Addr: "10.7.0.2/24"}},
		},
	}}
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestPlanOf(t *testing.T) {
	p := PlanOf(testView(), bridgeOf)
	if len(p.Networks) != 2 || p.Networks[0].ID != "app" || p.Networks[1].ID != "ingress" {
		t.Fatalf("networks: %+v", p.Networks)
	}
	app := p.Networks[0]
	if app.Bridge != "shbapp" || app.LB != netip.MustParseAddr("10.9.0.250") || len(app.VIPs) != 2 {
		t.Fatalf("app: %+v", app)
	}
	if v := app.VIPs[0]; v.ServiceID != "back" || !slices.Equal(v.Backends, addrs("10.9.0.11", "10.9.0.12")) {
		t.Errorf("back's VIP: %+v", v)
	}
	if v := app.VIPs[1]; v.ServiceID != "front" || len(v.Backends) != 0 {
		t.Errorf("front's VIP: %+v", v)
	}
	if len(p.Ports) != 1 {
		t.Fatalf("ports: %+v (the host-mode port is not the mesh's)", p.Ports)
	}
	if pp := p.Ports[0]; pp.Published != 8080 || pp.Target != 80 || pp.Protocol != "tcp" || pp.Bridge != "shbingress" ||
		pp.LB != netip.MustParseAddr("10.255.0.250") || !slices.Equal(pp.Backends, addrs("10.255.0.11", "10.255.0.12")) {
		t.Errorf("port: %+v", pp)
	}
	if got := PlanOf(nil, bridgeOf); len(got.Networks)+len(got.Ports) != 0 {
		t.Errorf("plan of no view: %+v", got)
	}
}

// TestRulesGolden compares the generated iptables-restore input with
// testdata (go test -update rewrites it): a stale service chain is
// deleted, a VIP without backends has no rule.
func TestRulesGolden(t *testing.T) {
	got := PlanOf(testView(), bridgeOf).Rules([]string{"SHOAL-VIP", "SHOAL-S-0123456789ABCDEF", chainOf(prefixService, "app", "back")})
	path := filepath.Join("testdata", "rules.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("rules differ from %s:\n%s", path, got)
	}
}

// TestCascade: rule i of n matches with probability 1/(n-i), so each
// backend gets 1/n of the connections.
func TestCascade(t *testing.T) {
	for n := 1; n <= 5; n++ {
		var be []netip.Addr
		for i := range n {
			be = append(be, netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}))
		}
		var lines []string
		cascade(func(f string, a ...any) { lines = append(lines, f) }, "C", be, "", 0)
		if len(lines) != n {
			t.Fatalf("%d backends: %d rules", n, len(lines))
		}
		// The share of backend i is prod_{j<i}(1-p_j) * p_i.
		rest := 1.0
		for i := range n {
			p := 1.0
			if i < n-1 {
				p = 1 / float64(n-i)
			}
			share := rest * p
			rest *= 1 - p
			if d := share - 1/float64(n); d > 1e-9 || d < -1e-9 {
				t.Errorf("%d backends: backend %d gets %f", n, i, share)
			}
		}
	}
}
