package netlb

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/model"
)

// bed is a throwaway network namespace "node" with a bridge shbnet
// (10.9.0.1/24, as Docker would make it), and namespaces be1, be2 (the
// tasks, 10.9.0.11 and .12) and cli (a client, 10.9.0.50) plugged into
// the bridge.
type bed struct {
	node, be1, be2, cli string // namespace paths
}

func sh(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newBed(t testing.TB) *bed {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("netlb: needs root (network namespaces, iptables)")
	}
	pfx := fmt.Sprintf("h16lb%d", os.Getpid()%100000)
	b := &bed{}
	paths := map[string]*string{"n": &b.node, "b1": &b.be1, "b2": &b.be2, "c": &b.cli}
	for _, s := range []string{"n", "b1", "b2", "c"} {
		name := pfx + s
		sh(t, "ip", "netns", "add", name)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
		*paths[s] = "/run/netns/" + name
	}
	in := func(ns string, args ...string) { sh(t, append([]string{"nsenter", "--net=" + ns}, args...)...) }
	in(b.node, "ip", "link", "add", "shbnet", "type", "bridge")
	in(b.node, "ip", "addr", "add", "10.9.0.1/24", "dev", "shbnet")
	in(b.node, "ip", "link", "set", "shbnet", "up")
	in(b.node, "ip", "link", "set", "lo", "up")
	in(b.node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	for i, c := range []struct {
		ns, addr string
	}{{b.be1, "10.9.0.11/24"}, {b.be2, "10.9.0.12/24"}, {b.cli, "10.9.0.50/24"}} {
		host, peer := fmt.Sprintf("v%d", i), fmt.Sprintf("p%d", i)
		in(b.node, "ip", "link", "add", host, "type", "veth", "peer", "name", peer)
		in(b.node, "ip", "link", "set", peer, "netns", c.ns)
		in(b.node, "ip", "link", "set", host, "master", "shbnet", "up")
		in(c.ns, "ip", "addr", "add", c.addr, "dev", peer)
		in(c.ns, "ip", "link", "set", peer, "up")
		in(c.ns, "ip", "link", "set", "lo", "up")
		in(c.ns, "ip", "route", "add", "default", "via", "10.9.0.1")
	}
	return b
}

// inNetns runs f on a thread in namespace path.
func inNetns(t testing.TB, path string, f func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if err := netns.Set(ns); err != nil {
		t.Fatal(err)
	}
	defer netns.Set(orig)
	f()
}

// serve runs a TCP server in namespace path on addr that answers each
// connection with its name and the client's address, then waits for the
// client to close.
func serve(t testing.TB, path, addr, name string) {
	t.Helper()
	var ln net.Listener
	inNetns(t, path, func() {
		var err error
		if ln, err = net.Listen("tcp4", addr); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fmt.Fprintf(c, "%s %s\n", name, c.RemoteAddr().(*net.TCPAddr).IP)
				c.Read(make([]byte, 1))
			}()
		}
	}()
}

// dial connects from namespace path and returns the connection and the
// server's first line.
func dial(t *testing.T, path, addr string) (net.Conn, string, error) {
	t.Helper()
	var c net.Conn
	var err error
	inNetns(t, path, func() { c, err = net.DialTimeout("tcp4", addr, 2*time.Second) })
	if err != nil {
		return nil, "", err
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		c.Close()
		return nil, "", err
	}
	return c, strings.TrimSpace(line), nil
}

// spread makes n connections and counts the answers.
func spread(t *testing.T, path, addr string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		c, line, err := dial(t, path, addr)
		if err != nil {
			got["error: "+err.Error()]++
			continue
		}
		c.Close()
		got[line]++
	}
	return got
}

// newBalancer makes a balancer working in the bed's node namespace.
func newBalancer(t testing.TB, b *bed) *Balancer {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Netns = b.node
	cfg.Bridge = func(string) string { return "shbnet" }
	lb, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lb.Teardown() })
	return lb
}

func bedView(backends ...string) *protocol.NetworkView {
	ns := protocol.NetworkState{
		Network:   &model.Network{ID: "net", Spec: model.NetworkSpec{Ingress: true}},
		LBAddress: "10.9.0.250/24",
		Services: []protocol.ServiceVIP{{ServiceID: "web", ServiceName: "web", Addr: "10.9.0.2/24",
			Ports: []model.PortConfig{{Protocol: "tcp", TargetPort: 7000, PublishedPort: 8080, PublishMode: model.PublishModeIngress}}}},
	}
	for i, b := range backends {
		ns.Endpoints = append(ns.Endpoints, protocol.TaskEndpoint{TaskID: fmt.Sprint("t", i), ServiceID: "web", Addresses: []string{b + "/24"}, Running: true})
	}
	return &protocol.NetworkView{Networks: []protocol.NetworkState{ns}}
}

func save(t *testing.T, b *bed) string {
	t.Helper()
	return sh(t, "nsenter", "--net="+b.node, "iptables-save")
}

// TestBalancer applies plans in a throwaway namespace and sends real
// connections through them: a VIP and a published port (on the node's
// address and on localhost) balance over both backends with the
// connections SNATed to the load-balancer address; re-applying changes
// nothing; a backend removed gets no new connection and its conntrack
// entries go; Teardown leaves no rule, jump or address behind.
func TestBalancer(t *testing.T) {
	b := newBed(t)
	serve(t, b.be1, "10.9.0.11:7000", "be1")
	serve(t, b.be2, "10.9.0.12:7000", "be2")
	lb := newBalancer(t, b)
	apply := func(v *protocol.NetworkView) {
		t.Helper()
		if err := lb.Apply(PlanOf(v, lb.cfg.Bridge)); err != nil {
			t.Fatal(err)
		}
	}
	apply(bedView("10.9.0.11", "10.9.0.12"))
	first := save(t, b)
	apply(bedView("10.9.0.11", "10.9.0.12"))
	if again := save(t, b); stripCounters(again) != stripCounters(first) {
		t.Errorf("re-applying changed the rules:\n%s\nthen\n%s", first, again)
	}
	for _, jump := range []string{"-A PREROUTING -j SHOAL-VIP", "-A PREROUTING -j SHOAL-INGRESS", "-A OUTPUT -j SHOAL-VIP", "-A POSTROUTING -j SHOAL-POST", "-A FORWARD -j SHOAL-FORWARD"} {
		if n := strings.Count(first, jump+"\n"); n != 1 {
			t.Errorf("%q %d times", jump, n)
		}
	}

	for _, c := range []struct{ from, addr string }{
		{b.cli, "10.9.0.2:7000"},   // the VIP
		{b.cli, "10.9.0.2:7000"},   // any port of it
		{b.cli, "10.9.0.1:8080"},   // the published port on the node's address
		{b.node, "127.0.0.1:8080"}, // and on localhost
	} {
		got := spread(t, c.from, c.addr, 40)
		if got["be1 10.9.0.250"] == 0 || got["be2 10.9.0.250"] == 0 || got["be1 10.9.0.250"]+got["be2 10.9.0.250"] != 40 {
			t.Errorf("%s: answers %v; want both backends, from the LB address, every time", c.addr, got)
		}
	}

	// Docker makes a network: its rules go to the top of the chains (a
	// MASQUERADE of the bridge's subnet in POSTROUTING). The next apply
	// moves our jumps back above them, in one piece, so that balanced
	// connections still get the load-balancer address.
	inNode := func(args ...string) string { return sh(t, append([]string{"nsenter", "--net=" + b.node}, args...)...) }
	inNode("iptables", "-t", "nat", "-I", "POSTROUTING", "1", "-s", "10.9.0.0/24", "-j", "MASQUERADE")
	inNode("iptables", "-t", "nat", "-I", "PREROUTING", "1", "-p", "udp", "--dport", "9", "-j", "RETURN")
	apply(bedView("10.9.0.11", "10.9.0.12"))
	for chain, want := range map[string][]string{
		"PREROUTING":  {"-A PREROUTING -j SHOAL-VIP", "-A PREROUTING -j SHOAL-INGRESS"},
		"POSTROUTING": {"-A POSTROUTING -j SHOAL-POST"},
	} {
		var rules []string
		for _, l := range strings.Split(inNode("iptables", "-t", "nat", "-S", chain), "\n") {
			if strings.HasPrefix(l, "-A ") {
				rules = append(rules, l)
			}
		}
		if len(rules) != len(want)+1 || !slices.Equal(rules[:len(want)], want) {
			t.Errorf("%s after Docker's insert and an apply: %q, want %q first and once", chain, rules, want)
		}
	}
	for _, addr := range []string{"10.9.0.2:7000", "10.9.0.1:8080"} {
		if got := spread(t, b.cli, addr, 20); got["be1 10.9.0.250"]+got["be2 10.9.0.250"] != 20 {
			t.Errorf("%s below Docker's MASQUERADE: answers %v, want all from the LB address", addr, got)
		}
	}

	// An open connection to be1; be1 then leaves.
	var open net.Conn
	for open == nil {
		c, line, err := dial(t, b.cli, "10.9.0.2:7000")
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "be1") {
			open = c
		} else {
			c.Close()
		}
	}
	defer open.Close()
	apply(bedView("10.9.0.12"))
	for _, addr := range []string{"10.9.0.2:7000", "10.9.0.1:8080"} {
		if got := spread(t, b.cli, addr, 20); got["be2 10.9.0.250"] != 20 {
			t.Errorf("%s with be1 gone: %v", addr, got)
		}
	}
	h, err := lb.handle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	flows, err := h.ConntrackTableList(netlink.ConntrackTable, unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range flows {
		if f.Reverse.SrcIP.Equal(net.ParseIP("10.9.0.11")) {
			t.Errorf("a conntrack entry of the gone backend is left: %s", f)
		}
	}
	if !strings.Contains(sh(t, "nsenter", "--net="+b.node, "ip", "-4", "addr", "show", "shbnet"), "10.9.0.2/32") {
		t.Error("the VIP is not on the bridge")
	}

	// No backend left: no rule; the chains go.
	apply(bedView())
	if s := save(t, b); strings.Contains(s, "SHOAL-S-") || strings.Contains(s, "SHOAL-P-") {
		t.Errorf("service chains left without backends:\n%s", s)
	}
	if err := lb.Teardown(); err != nil {
		t.Fatal(err)
	}
	if s := save(t, b); strings.Contains(s, "SHOAL") {
		t.Errorf("after Teardown:\n%s", s)
	}
	if a := sh(t, "nsenter", "--net="+b.node, "ip", "-4", "addr", "show", "shbnet"); strings.Contains(a, "/32") {
		t.Errorf("addresses left after Teardown:\n%s", a)
	}
	_ = netip.Addr{}
}

// stripCounters removes iptables-save's comment lines and packet counters.
func stripCounters(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, ":") {
			if i := strings.Index(l, " ["); i > 0 {
				l = l[:i]
			}
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}
