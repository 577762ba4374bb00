package netdns

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/model"
)

// upstream starts a real DNS server on loopback (UDP and TCP, one port)
// that knows one name, outside.example, and answers NXDOMAIN otherwise.
func upstream(t testing.TB) string {
	t.Helper()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if q.Question[0].Name == "outside.example." && q.Question[0].Qtype == dns.TypeA {
			rr, _ := dns.NewRR("outside.example. 60 IN A 192.0.2.7")
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	// The TCP port may be taken where the UDP one was free: try again.
	var pc net.PacketConn
	var ln net.Listener
	for i := 0; ln == nil; i++ {
		var err error
		if pc, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp4", pc.LocalAddr().String()); err != nil {
			pc.Close()
			if i == 20 {
				t.Fatal(err)
			}
		}
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		go srv.ActivateAndServe()
		t.Cleanup(func() { srv.Shutdown() })
	}
	return pc.LocalAddr().String()
}

func network(id, gw string) *model.Network {
	return &model.Network{ID: id, IPAM: []model.IPAMConfig{{Subnet: "10.9.0.0/24", Gateway: gw}}}
}

// testView has two networks (their gateways on loopback): netA with
// service back (VIP, alias db, two running tasks and one starting) and front (dnsrr, two tasks),
// netB with back again (another VIP, one task) and other.
func testView() *protocol.NetworkView {
	return &protocol.NetworkView{Networks: []protocol.NetworkState{
		{
			Network: network("netA", "127.0.10.1"),
			Endpoints: []protocol.TaskEndpoint{
				{TaskID: "tb1", ServiceID: "sb", ServiceName: "app_back", NodeID: "n1", Addresses: []string{"10.9.0.11/24"}, Aliases: []string{"back", "db"}, Running: true},
				{TaskID: "tb2", ServiceID: "sb", ServiceName: "app_back", NodeID: "n2", Addresses: []string{"10.9.0.12/24"}, Aliases: []string{"back", "db"}, Running: true},
				{TaskID: "tb9", ServiceID: "sb", ServiceName: "app_back", NodeID: "n3", Addresses: []string{"10.9.0.19/24"}, Aliases: []string{"back", "db"}}, // starting
				{TaskID: "tm1", ServiceID: "sm", ServiceName: "multi", NodeID: "n1", Addresses: []string{"127.0.10.50/8"}, Running: true},
				{TaskID: "tf1", ServiceID: "sf", ServiceName: "app_front", NodeID: "n1", Addresses: []string{"10.9.0.21/24"}, Aliases: []string{"front"}, Running: true},
				{TaskID: "tf2", ServiceID: "sf", ServiceName: "app_front", NodeID: "n3", Addresses: []string{"10.9.0.22/24"}, Aliases: []string{"front"}, Running: true},
			},
			Services: []protocol.ServiceVIP{{ServiceID: "sb", ServiceName: "app_back", Addr: "10.9.0.2/24"}},
		},
		{
			Network: network("netB", "127.0.20.1"),
			Endpoints: []protocol.TaskEndpoint{
				{TaskID: "tb1", ServiceID: "sb", ServiceName: "app_back", NodeID: "n1", Addresses: []string{"10.8.0.11/24"}, Running: true},
				{TaskID: "tm1", ServiceID: "sm", ServiceName: "multi", NodeID: "n1", Addresses: []string{"127.0.20.50/8"}, Running: true},
				{TaskID: "to1", ServiceID: "so", ServiceName: "other", NodeID: "n1", Addresses: []string{"10.8.0.31/24"}, Running: true},
			},
			Services: []protocol.ServiceVIP{
				{ServiceID: "sb", ServiceName: "app_back", Addr: "10.8.0.2/24"},
				{ServiceID: "so", ServiceName: "other", Addr: "10.8.0.3/24"},
			},
		},
	}}
}

func startServer(t testing.TB, v *protocol.NetworkView) *Server {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Port = 0
	cfg.Upstreams = []string{upstream(t)}
	cfg.Interval = 50 * time.Millisecond
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.SetView(v)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

// addrOf waits for network id's listener.
func addrOf(t *testing.T, s *Server, id string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if a, ok := s.Addr(id); ok {
			return a.String()
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no listener for %s", id)
	return ""
}

// askFrom is ask with the query sent from address src.
func askFrom(t *testing.T, src, addr, name string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	c := &dns.Client{Net: "udp", Timeout: 3 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(src)}}}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s from %s: %v", name, src, err)
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

// TestTaskOnSeveralNetworks: Docker forwards every name to the server of
// a task's first network; a task on netA and netB asking on netA's
// listener also gets netB's names, first netA's answer for a name on
// both; another client on netA does not.
func TestTaskOnSeveralNetworks(t *testing.T) {
	s := startServer(t, testView())
	a := addrOf(t, s, "netA")
	addrOf(t, s, "netB")
	if got := askFrom(t, "127.0.10.50", a, "other"); !slices.Equal(got, []string{"10.8.0.3"}) {
		t.Errorf("other from the task on both networks: %v", got)
	}
	if got := askFrom(t, "127.0.10.50", a, "app_back"); !slices.Equal(got, []string{"10.9.0.2"}) {
		t.Errorf("app_back from the task on both networks: %v, want netA's VIP", got)
	}
	if got := askFrom(t, "127.0.10.99", a, "other"); len(got) != 0 {
		t.Errorf("other from an address that is no task of netB: %v", got)
	}
}

// ask sends one question over proto and returns the answer's rcode and
// its A or PTR records as strings, sorted.
func ask(t *testing.T, addr, proto, name string, qtype uint16) (int, []string) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: proto, Timeout: 3 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, dns.TypeToString[qtype], proto, err)
	}
	var out []string
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.PTR:
			out = append(out, rr.Ptr)
		}
	}
	slices.Sort(out)
	return r.Rcode, out
}

func TestAnswers(t *testing.T) {
	s := startServer(t, testView())
	a, b := addrOf(t, s, "netA"), addrOf(t, s, "netB")
	tests := []struct {
		name  string
		addr  string
		q     string
		qtype uint16
		rcode int
		want  []string
	}{
		{"service name gives the VIP", a, "app_back", dns.TypeA, dns.RcodeSuccess, []string{"10.9.0.2"}},
		{"an alias gives the VIP", a, "db", dns.TypeA, dns.RcodeSuccess, []string{"10.9.0.2"}},
		{"names are case-insensitive", a, "BACK", dns.TypeA, dns.RcodeSuccess, []string{"10.9.0.2"}},
		{"tasks.NAME gives the tasks", a, "tasks.back", dns.TypeA, dns.RcodeSuccess, []string{"10.9.0.11", "10.9.0.12"}},
		{"tasks.SERVICE too", a, "tasks.app_back", dns.TypeA, dns.RcodeSuccess, []string{"10.9.0.11", "10.9.0.12"}},
		{"dnsrr service gives its tasks", a, "front", dns.TypeA, dns.RcodeSuccess, []string{"10.9.0.21", "10.9.0.22"}},
		{"AAAA of a cluster name is empty, not forwarded", a, "back", dns.TypeAAAA, dns.RcodeSuccess, nil},
		{"reverse of a VIP", a, "2.0.9.10.in-addr.arpa", dns.TypePTR, dns.RcodeSuccess, []string{"app_back."}},
		{"reverse of a starting task", a, "19.0.9.10.in-addr.arpa", dns.TypePTR, dns.RcodeSuccess, []string{"app_back.tb9."}},
		{"reverse of a task", a, "12.0.9.10.in-addr.arpa", dns.TypePTR, dns.RcodeSuccess, []string{"app_back.tb2."}},
		{"other names are forwarded", a, "outside.example", dns.TypeA, dns.RcodeSuccess, []string{"192.0.2.7"}},
		{"unknown names get the upstream's NXDOMAIN", a, "nowhere.example", dns.TypeA, dns.RcodeNameError, nil},
		{"the same service on another network: that network's VIP", b, "app_back", dns.TypeA, dns.RcodeSuccess, []string{"10.8.0.2"}},
		{"other network's tasks", b, "tasks.app_back", dns.TypeA, dns.RcodeSuccess, []string{"10.8.0.11"}},
	}
	for _, tt := range tests {
		for _, proto := range []string{"udp", "tcp"} {
			t.Run(tt.name+"/"+proto, func(t *testing.T) {
				rcode, got := ask(t, tt.addr, proto, tt.q, tt.qtype)
				if rcode != tt.rcode || !slices.Equal(got, tt.want) {
					t.Errorf("%s: rcode %s answers %v; want %s %v", tt.q, dns.RcodeToString[rcode], got, dns.RcodeToString[tt.rcode], tt.want)
				}
			})
		}
	}
}

// TestScoping: a network's listener knows only its own network's names;
// the others' are forwarded (and unknown upstream).
func TestScoping(t *testing.T) {
	s := startServer(t, testView())
	a, b := addrOf(t, s, "netA"), addrOf(t, s, "netB")
	for _, c := range []struct {
		addr, name string
	}{
		{b, "db"}, {b, "front"}, {b, "tasks.front"}, {a, "other"}, {a, "tasks.other"},
	} {
		if rcode, got := ask(t, c.addr, "udp", c.name, dns.TypeA); rcode != dns.RcodeNameError || len(got) != 0 {
			t.Errorf("%s on the wrong network: rcode %s answers %v; want NXDOMAIN", c.name, dns.RcodeToString[rcode], got)
		}
	}
	if rcode, got := ask(t, b, "udp", "31.0.8.10.in-addr.arpa", dns.TypePTR); rcode != dns.RcodeSuccess || !slices.Equal(got, []string{"other.to1."}) {
		t.Errorf("PTR on its network: %v %v", rcode, got)
	}
	if rcode, _ := ask(t, a, "udp", "31.0.8.10.in-addr.arpa", dns.TypePTR); rcode != dns.RcodeNameError {
		t.Errorf("PTR of another network's task answered on netA: %s", dns.RcodeToString[rcode])
	}
}

// TestViewChanges: answers follow the view at once; a network that
// leaves the view loses its listener.
func TestViewChanges(t *testing.T) {
	v := testView()
	s := startServer(t, v)
	a := addrOf(t, s, "netA")
	addrOf(t, s, "netB")

	// Task tb2 goes; tb3 comes.
	v2 := testView()
	eps := v2.Networks[0].Endpoints
	eps[1] = protocol.TaskEndpoint{TaskID: "tb3", ServiceID: "sb", ServiceName: "app_back", NodeID: "n3", Addresses: []string{"10.9.0.13/24"}, Aliases: []string{"back", "db"}, Running: true}
	v2.Networks = v2.Networks[:1]
	s.SetView(v2)
	if _, got := ask(t, a, "udp", "tasks.back", dns.TypeA); !slices.Equal(got, []string{"10.9.0.11", "10.9.0.13"}) {
		t.Errorf("tasks.back right after the change: %v", got)
	}
	if rcode, _ := ask(t, a, "udp", "12.0.9.10.in-addr.arpa", dns.TypePTR); rcode != dns.RcodeNameError {
		t.Errorf("PTR of a gone task: %s", dns.RcodeToString[rcode])
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := s.Addr("netB"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("netB's listener still up after netB left the view")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// With no task left a service name still resolves: to its VIP.
	v3 := testView()
	v3.Networks[0].Endpoints = v3.Networks[0].Endpoints[2:]
	s.SetView(v3)
	if _, got := ask(t, a, "udp", "app_back", dns.TypeA); !slices.Equal(got, []string{"10.9.0.2"}) {
		t.Errorf("app_back with no tasks: %v", got)
	}
	if rcode, got := ask(t, a, "udp", "tasks.back", dns.TypeA); len(got) != 0 {
		t.Errorf("tasks.back with no tasks: %s %v", dns.RcodeToString[rcode], got)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"default", func(*Config) {}, true},
		{"port too high", func(c *Config) { c.Port = 70000 }, false},
		{"no upstream source", func(c *Config) { c.ResolvConf = "" }, false},
		{"upstreams without resolv.conf", func(c *Config) { c.ResolvConf = ""; c.Upstreams = []string{"127.0.0.1:53"} }, true},
		{"zero timeout", func(c *Config) { c.ForwardTimeout = 0 }, false},
		{"zero interval", func(c *Config) { c.Interval = 0 }, false},
	} {
		cfg := DefaultConfig()
		c.mod(&cfg)
		if err := cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("%s: Validate() = %v", c.name, err)
		}
	}
}

func TestReverse(t *testing.T) {
	for in, want := range map[string]string{
		"4.3.2.1.in-addr.arpa.": "1.2.3.4",
		"4.3.2.1.IN-ADDR.ARPA":  "1.2.3.4",
		"3.2.1.in-addr.arpa.":   "",
		"x.3.2.1.in-addr.arpa.": "",
		"4.3.2.1.example.":      "",
	} {
		a, ok := reverse(in)
		if got := ""; ok {
			got = a.String()
			if got != want {
				t.Errorf("reverse(%q) = %s; want %q", in, got, want)
			}
		} else if want != "" {
			t.Errorf("reverse(%q) failed; want %s", in, want)
		}
	}
	_ = netip.Addr{}
}
