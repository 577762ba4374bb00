package netdns

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/shoal-dev/shoal/dispatcher/protocol"
)

// Server answers the cluster's names on each network's gateway address.
type Server struct {
	cfg       Config
	log       *slog.Logger
	upstreams []string
	tab       atomic.Pointer[table]
	kick      chan struct{}

	mu        sync.Mutex
	listeners map[string]*listener // by network ID
}

// listener is one network's UDP and TCP servers.
type listener struct {
	addr     netip.AddrPort
	udp, tcp *dns.Server
}

// New makes a server; Run starts its listeners.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1), listeners: map[string]*listener{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "netdns")
	s.upstreams = cfg.Upstreams
	if len(s.upstreams) == 0 {
		rc, err := dns.ClientConfigFromFile(cfg.ResolvConf)
		if err != nil {
			return nil, fmt.Errorf("netdns: reading upstreams: %w", err)
		}
		for _, h := range rc.Servers {
			s.upstreams = append(s.upstreams, net.JoinHostPort(h, rc.Port))
		}
	}
	s.tab.Store(compile(nil))
	return s, nil
}

// SetView replaces the answers with those of v at once and has Run
// start and stop listeners to match.
func (s *Server) SetView(v *protocol.NetworkView) {
	s.tab.Store(compile(v))
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Addr returns the UDP and TCP address network id's listener serves on.
func (s *Server) Addr(id string) (netip.AddrPort, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.listeners[id]
	if !ok {
		return netip.AddrPort{}, false
	}
	return l.addr, true
}

// Run keeps one listener per network of the view until ctx ends, then
// closes them all.
func (s *Server) Run(ctx context.Context) error {
	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	defer s.closeAll()
	for {
		s.sync()
		select {
		case <-ctx.Done():
			return nil
		case <-s.kick:
		case <-tick.C:
		}
	}
}

// sync starts the listeners the table needs and stops the others.
func (s *Server) sync() {
	tab := s.tab.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, l := range s.listeners {
		if z, ok := tab.zones[id]; !ok || z.gateway != l.addr.Addr() {
			l.close()
			delete(s.listeners, id)
			s.log.Info("dns listener stopped", "network", id, "addr", l.addr)
		}
	}
	for id, z := range tab.zones {
		if _, ok := s.listeners[id]; ok {
			continue
		}
		l, err := s.listen(id, z.gateway)
		if err != nil {
			s.log.Warn("dns listener failed; retrying", "network", id, "addr", z.gateway, "err", err)
			continue
		}
		s.listeners[id] = l
		s.log.Info("dns listener started", "network", id, "addr", l.addr)
	}
}

func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, l := range s.listeners {
		l.close()
		delete(s.listeners, id)
	}
}

// listenConfig binds to an address that may not exist yet (IP_FREEBIND)
// and alongside other agents of the same network namespace
// (SO_REUSEPORT).
var listenConfig = net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1); serr != nil {
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}}

// listen starts network id's UDP and TCP servers on gw.
func (s *Server) listen(id string, gw netip.Addr) (*listener, error) {
	ctx := context.Background()
	pc, err := listenConfig.ListenPacket(ctx, "udp4", net.JoinHostPort(gw.String(), strconv.Itoa(s.cfg.Port)))
	if err != nil {
		return nil, fmt.Errorf("netdns: udp: %w", err)
	}
	addr := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	ln, err := listenConfig.Listen(ctx, "tcp4", addr.String())
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("netdns: tcp: %w", err)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) { s.serve(id, w, q) })
	l := &listener{
		addr: netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port()),
		udp:  &dns.Server{PacketConn: pc, Handler: h},
		tcp:  &dns.Server{Listener: ln, Handler: h},
	}
	for _, srv := range []*dns.Server{l.udp, l.tcp} {
		go func() {
			if err := srv.ActivateAndServe(); err != nil {
				s.log.Debug("dns server ended", "network", id, "err", err)
			}
		}()
	}
	return l, nil
}

func (l *listener) close() {
	// Shutdown fails only for a server that never started; the
	// sockets are closed either way.
	for _, srv := range []*dns.Server{l.udp, l.tcp} {
		if err := srv.Shutdown(); err != nil {
			if srv.PacketConn != nil {
				srv.PacketConn.Close()
			}
			if srv.Listener != nil {
				srv.Listener.Close()
			}
		}
	}
}

// serve answers one query arriving on network id's listener.
func (s *Server) serve(id string, w dns.ResponseWriter, q *dns.Msg) {
	var from netip.Addr
	switch a := w.RemoteAddr().(type) {
	case *net.UDPAddr:
		from = a.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		from = a.AddrPort().Addr().Unmap()
	}
	resp := s.answer(id, from, q)
	if resp == nil {
		resp = s.forward(w, q)
	}
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug("dns reply failed", "network", id, "err", err)
	}
}

// answer answers q, asked from address from on network id's listener,
// from the names of network id and of the other networks the asking task
// is on (Docker forwards every name to its first network's server); nil
// means the name is not the cluster's and q must be forwarded.
func (s *Server) answer(id string, from netip.Addr, q *dns.Msg) *dns.Msg {
	if len(q.Question) != 1 || q.Opcode != dns.OpcodeQuery {
		return nil
	}
	tab := s.tab.Load()
	z := tab.zones[id]
	if z == nil {
		return nil
	}
	zones := []*zone{z}
	if task, ok := z.taskAt[from]; ok {
		for _, other := range tab.taskZones[task] {
			if other != id {
				zones = append(zones, tab.zones[other])
			}
		}
	}
	question := q.Question[0]
	hdr := dns.RR_Header{Name: question.Name, Class: dns.ClassINET, Ttl: s.cfg.TTL}
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	m.RecursionAvailable = true
	if question.Qtype == dns.TypePTR {
		a, ok := reverse(question.Name)
		if !ok {
			return nil
		}
		var name string
		for _, z := range zones {
			if name = z.ptr[a]; name != "" {
				break
			}
		}
		if name == "" {
			return nil
		}
		hdr.Rrtype = dns.TypePTR
		m.Answer = append(m.Answer, &dns.PTR{Hdr: hdr, Ptr: dns.Fqdn(name)})
		return m
	}
	var addrs []netip.Addr
	found := false
	for _, z := range zones {
		if a, ok := z.names[canonical(question.Name)]; ok {
			addrs, found = a, true
			break
		}
	}
	if !found {
		return nil
	}
	// A name of ours: A questions get its addresses (none for a service
	// without running tasks), others an empty answer rather than the
	// outside world's idea of the name.
	if question.Qtype == dns.TypeA || question.Qtype == dns.TypeANY {
		hdr.Rrtype = dns.TypeA
		for _, a := range addrs {
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: a.AsSlice()})
		}
	}
	return m
}

// forward asks the upstreams, in order, over the query's transport (UDP
// answers that were truncated are asked again over TCP).
func (s *Server) forward(w dns.ResponseWriter, q *dns.Msg) *dns.Msg {
	proto := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		proto = "tcp"
	}
	for _, up := range s.upstreams {
		c := &dns.Client{Net: proto, Timeout: s.cfg.ForwardTimeout}
		r, _, err := c.Exchange(q, up)
		if err == nil && r.Truncated && proto == "udp" {
			c.Net = "tcp"
			r, _, err = c.Exchange(q, up)
		}
		if err != nil {
			s.log.Debug("dns forward failed", "upstream", up, "name", q.Question, "err", err)
			continue
		}
		r.Id = q.Id
		return r
	}
	m := new(dns.Msg)
	m.SetRcode(q, dns.RcodeServerFailure)
	return m
}
