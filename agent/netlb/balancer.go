package netlb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/shoal-dev/shoal/dispatcher/protocol"
)

// Config configures a Balancer.
type Config struct {
	// Netns is the path of the network namespace to work in (that of
	// the node's dockerd); empty is the process's own.
	Netns string
	// Bridge names a network's bridge (netplane.BridgeName).
	Bridge func(networkID string) string
	// Active tells whether this agent is the one of its engine that
	// writes the rules (several agents may share one engine and one
	// namespace; netplane.Plane.Owns); nil is always.
	Active func() bool
	// Interval is how often the balancer re-applies the plan without a
	// new view: a bridge Docker made after the view came gets its
	// addresses, a flushed table its rules. 5 s.
	Interval time.Duration
	// Logger receives the balancer's logs; nil is slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns the settings for production; Bridge must be set.
func DefaultConfig() Config {
	return Config{Interval: 5 * time.Second}
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	switch {
	case c.Bridge == nil:
		return errors.New("netlb: no bridge naming")
	case c.Interval <= 0:
		return errors.New("netlb: interval must be positive")
	}
	return nil
}

// Balancer keeps the node's VIPs and routing mesh matching its view.
type Balancer struct {
	cfg  Config
	log  *slog.Logger
	kick chan struct{}

	mu   sync.Mutex
	view *protocol.NetworkView
	// applied is the last plan applied: its backends are compared with
	// the next one's to delete gone backends' conntrack entries.
	applied Plan
	// dirty: something of ours may be in the namespace (an Apply since
	// the last Teardown).
	dirty bool
}

// New makes a balancer; Run applies views.
func New(cfg Config) (*Balancer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Balancer{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1)}
	if b.log == nil {
		b.log = slog.Default()
	}
	b.log = b.log.With("component", "netlb")
	return b, nil
}

// SetView hands the balancer a new view; Run applies it at once.
func (b *Balancer) SetView(v *protocol.NetworkView) {
	b.mu.Lock()
	b.view = v
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Run applies the view on every change and every Interval until ctx
// ends. The rules stay when it returns (the tasks keep running); Teardown
// removes them.
func (b *Balancer) Run(ctx context.Context) error {
	t := time.NewTicker(b.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-b.kick:
		case <-t.C:
		}
		b.mu.Lock()
		v := b.view
		b.mu.Unlock()
		if v == nil || (b.cfg.Active != nil && !b.cfg.Active()) {
			continue
		}
		p := PlanOf(v, b.cfg.Bridge)
		if p.Empty() {
			// Nothing to balance: no chain, jump or address of ours
			// stays (a node that never had any is not touched).
			if b.hasApplied() {
				if err := b.Teardown(); err != nil {
					b.log.Warn("teardown", "err", err)
				}
			}
			continue
		}
		if err := b.Apply(p); err != nil {
			b.log.Warn("apply", "err", err)
		}
	}
}

// Apply makes the namespace match p: rules (one transaction), jumps to
// our chains, bridge addresses, route_localnet, and the conntrack entries
// of backends p no longer has deleted. It is idempotent. An error leaves
// what could be done done; the next Apply retries the rest.
func (b *Balancer) Apply(p Plan) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dirty = true
	existing, err := b.ourChains()
	if err != nil {
		return err
	}
	if err := b.run(strings.NewReader(p.Rules(names(existing))), "iptables-restore", "-w", "--noflush"); err != nil {
		return err
	}
	var errs []error
	if err := b.jumps(true); err != nil {
		errs = append(errs, err)
	}
	if len(p.Ports) > 0 {
		// Connections to 127.0.0.1:PORT are DNATed to a task.
		if err := b.run(nil, "sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1"); err != nil {
			errs = append(errs, err)
		}
	}
	h, err := b.handle()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	defer h.Close()
	for _, n := range p.Networks {
		if err := syncAddrs(h, n); err != nil {
			errs = append(errs, err)
		}
	}
	if n, err := deleteGone(h, b.applied, p); err != nil {
		errs = append(errs, err)
	} else if n > 0 {
		b.log.Info("conntrack entries of gone backends deleted", "entries", n)
	}
	b.applied = p
	return errors.Join(errs...)
}

func (b *Balancer) hasApplied() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dirty
}

// Teardown removes every chain and jump of ours, and the addresses the
// last applied plan put on bridges.
func (b *Balancer) Teardown() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	if err := b.jumps(false); err != nil {
		errs = append(errs, err)
	}
	existing, err := b.ourChains()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	var in strings.Builder
	for _, table := range []string{"nat", "filter"} {
		fmt.Fprintf(&in, "*%s\n", table)
		var mine []string
		for _, c := range existing {
			if t, name, _ := strings.Cut(c, " "); t == table {
				mine = append(mine, name)
			}
		}
		for _, c := range mine {
			fmt.Fprintf(&in, ":%s - [0:0]\n", c)
		}
		for _, c := range mine {
			fmt.Fprintf(&in, "-X %s\n", c)
		}
		in.WriteString("COMMIT\n")
	}
	if err := b.run(strings.NewReader(in.String()), "iptables-restore", "-w", "--noflush"); err != nil {
		errs = append(errs, err)
	}
	if h, err := b.handle(); err != nil {
		errs = append(errs, err)
	} else {
		for _, n := range b.applied.Networks {
			if err := syncAddrs(h, NetworkPlan{Bridge: n.Bridge}); err != nil {
				errs = append(errs, err)
			}
		}
		h.Close()
	}
	b.applied = Plan{}
	if len(errs) == 0 {
		b.dirty = false
	}
	return errors.Join(errs...)
}

// ourChains lists our chains as "TABLE NAME".
func (b *Balancer) ourChains() ([]string, error) {
	var out []string
	for _, table := range []string{"nat", "filter"} {
		save, err := b.output("iptables-save", "-t", table)
		if err != nil {
			return nil, err
		}
		for _, l := range strings.Split(save, "\n") {
			if name, ok := strings.CutPrefix(l, ":SHOAL-"); ok {
				out = append(out, table+" SHOAL-"+strings.Fields(name)[0])
			}
		}
	}
	return out, nil
}

// names strips the tables of ourChains' answer.
func names(chains []string) []string {
	out := make([]string, 0, len(chains))
	for _, c := range chains {
		_, name, _ := strings.Cut(c, " ")
		out = append(out, name)
	}
	return out
}

// jumps makes the jumps from the built-in chains to ours the first rules
// of their chains, once each (or, with add false, deletes them). Docker
// inserts its rules at the top when it makes a network (a MASQUERADE per
// bridge in POSTROUTING): jumps it pushed down are moved back to the top
// in one iptables-restore transaction, so no connection meets the chain
// without them. Below Docker's MASQUERADE, a connection from a container
// of another network of this node to a published port was masqueraded to
// the ingress bridge's gateway address, which every node has, and the
// replies stayed on the backend's node.
func (b *Balancer) jumps(add bool) error {
	forward := "FORWARD"
	if _, err := b.output("iptables", "-w", "-t", "filter", "-S", "DOCKER-USER"); err == nil {
		forward = "DOCKER-USER"
	}
	var errs []error
	for _, c := range []struct {
		table, chain string
		targets      []string
	}{
		{"nat", "PREROUTING", []string{ChainVIP, ChainIngress}},
		{"nat", "OUTPUT", []string{ChainVIP, ChainIngress}},
		{"nat", "POSTROUTING", []string{ChainPost}},
		{"filter", forward, []string{ChainForward}},
	} {
		if !add {
			for _, target := range c.targets {
				for b.run(nil, "iptables", "-w", "-t", c.table, "-C", c.chain, "-j", target) == nil {
					if err := b.run(nil, "iptables", "-w", "-t", c.table, "-D", c.chain, "-j", target); err != nil {
						errs = append(errs, err)
						break
					}
				}
			}
			continue
		}
		list, err := b.output("iptables", "-w", "-t", c.table, "-S", c.chain)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		have, atTop := jumpsIn(list, c.chain, c.targets)
		if atTop {
			continue
		}
		// One transaction: delete every jump of ours there is, then
		// insert one of each at the top, in the order of c.targets.
		var in strings.Builder
		fmt.Fprintf(&in, "*%s\n", c.table)
		for _, target := range c.targets {
			for range have[target] {
				fmt.Fprintf(&in, "-D %s -j %s\n", c.chain, target)
			}
		}
		for i, target := range c.targets {
			fmt.Fprintf(&in, "-I %s %d -j %s\n", c.chain, i+1, target)
		}
		in.WriteString("COMMIT\n")
		if err := b.run(strings.NewReader(in.String()), "iptables-restore", "-w", "--noflush"); err != nil {
			errs = append(errs, err)
		}
	}
	if !add && forward == "DOCKER-USER" {
		// A jump from FORWARD may be left from before Docker made its
		// chain.
		for b.run(nil, "iptables", "-w", "-t", "filter", "-C", "FORWARD", "-j", ChainForward) == nil {
			if err := b.run(nil, "iptables", "-w", "-t", "filter", "-D", "FORWARD", "-j", ChainForward); err != nil {
				errs = append(errs, err)
				break
			}
		}
	}
	return errors.Join(errs...)
}

// jumpsIn reads `iptables -S CHAIN`: how many jumps to each target the
// chain has, and whether its first rules are exactly one jump to each
// target, in any order.
func jumpsIn(list, chain string, targets []string) (map[string]int, bool) {
	have := map[string]int{}
	atTop := true
	rule := 0
	for _, l := range strings.Split(list, "\n") {
		if !strings.HasPrefix(l, "-A ") {
			continue
		}
		rule++
		ours := false
		for _, target := range targets {
			if strings.TrimSpace(l) == "-A "+chain+" -j "+target {
				have[target]++
				ours = true
			}
		}
		if rule <= len(targets) && !ours {
			atTop = false
		}
	}
	for _, target := range targets {
		if have[target] != 1 {
			atTop = false
		}
	}
	return have, atTop
}

// command returns a command run in the configured namespace.
func (b *Balancer) command(name string, args ...string) *exec.Cmd {
	if b.cfg.Netns == "" {
		return exec.Command(name, args...)
	}
	return exec.Command("nsenter", append([]string{"--net=" + b.cfg.Netns, name}, args...)...)
}

func (b *Balancer) run(stdin *strings.Reader, name string, args ...string) error {
	cmd := b.command(name, args...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("netlb: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

func (b *Balancer) output(name string, args ...string) (string, error) {
	cmd := b.command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("netlb: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// handle returns a netlink handle in the configured namespace.
func (b *Balancer) handle() (*netlink.Handle, error) {
	if b.cfg.Netns == "" {
		return netlink.NewHandle()
	}
	ns, err := netns.GetFromPath(b.cfg.Netns)
	if err != nil {
		return nil, fmt.Errorf("netlb: namespace %s: %w", b.cfg.Netns, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlb: netlink in %s: %w", b.cfg.Netns, err)
	}
	return h, nil
}

// mac is an overlay address's MAC, as netplane derives it (02:42 + IP).
func mac(ip netip.Addr) net.HardwareAddr {
	a := ip.As4()
	return net.HardwareAddr{0x02, 0x42, a[0], a[1], a[2], a[3]}
}

// syncAddrs makes the /32 addresses on the network's bridge the plan's
// (its load-balancer address and VIPs; the bridge's gateway, Docker's, is
// not a /32 and is left alone), and gives the load-balancer address's MAC
// a local forwarding entry. A bridge that does not exist (yet) is no
// error when the plan wants nothing on it.
func syncAddrs(h *netlink.Handle, n NetworkPlan) error {
	link, err := h.LinkByName(n.Bridge)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) && !n.LB.IsValid() {
			return nil
		}
		return fmt.Errorf("netlb: bridge %s: %w", n.Bridge, err)
	}
	want := map[netip.Addr]bool{}
	if n.LB.IsValid() {
		want[n.LB] = true
	}
	for _, v := range n.VIPs {
		want[v.VIP] = true
	}
	have, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("netlb: addresses of %s: %w", n.Bridge, err)
	}
	var errs []error
	for _, a := range have {
		ones, _ := a.Mask.Size()
		ip, ok := netip.AddrFromSlice(a.IP.To4())
		if ones != 32 || !ok {
			continue
		}
		if want[ip] {
			delete(want, ip)
			continue
		}
		if err := h.AddrDel(link, &a); err != nil {
			errs = append(errs, fmt.Errorf("netlb: remove %s from %s: %w", ip, n.Bridge, err))
		}
	}
	for ip := range want {
		// noprefixroute: the bridge's subnet route stays Docker's.
		a := &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(32, 32)}, Flags: unix.IFA_F_NOPREFIXROUTE}
		if err := h.AddrReplace(link, a); err != nil {
			errs = append(errs, fmt.Errorf("netlb: add %s to %s: %w", ip, n.Bridge, err))
		}
	}
	if n.LB.IsValid() {
		fdb := &netlink.Neigh{
			LinkIndex: link.Attrs().Index, Family: unix.AF_BRIDGE, State: netlink.NUD_PERMANENT,
			Flags: netlink.NTF_SELF, HardwareAddr: mac(n.LB),
		}
		if err := h.NeighSet(fdb); err != nil {
			errs = append(errs, fmt.Errorf("netlb: local entry of %s on %s: %w", mac(n.LB), n.Bridge, err))
		}
	}
	return errors.Join(errs...)
}

// deleteGone deletes the conntrack entries of connections balanced to a
// backend that old had and cur has not, for that VIP or port.
func deleteGone(h *netlink.Handle, old, cur Plan) (uint, error) {
	var filters []netlink.CustomConntrackFilter
	curVIPs := map[netip.Addr][]netip.Addr{}
	for _, n := range cur.Networks {
		for _, v := range n.VIPs {
			curVIPs[v.VIP] = v.Backends
		}
	}
	for _, n := range old.Networks {
		for _, v := range n.VIPs {
			for _, be := range v.Backends {
				if slices.Contains(curVIPs[v.VIP], be) {
					continue
				}
				f := &netlink.ConntrackFilter{}
				f.AddIP(netlink.ConntrackOrigDstIP, v.VIP.AsSlice())
				f.AddIP(netlink.ConntrackReplySrcIP, be.AsSlice())
				filters = append(filters, f)
			}
		}
	}
	curPorts := map[string][]netip.Addr{}
	key := func(p PortPlan) string { return fmt.Sprint(p.Protocol, p.Published) }
	for _, p := range cur.Ports {
		curPorts[key(p)] = p.Backends
	}
	for _, p := range old.Ports {
		for _, be := range p.Backends {
			if slices.Contains(curPorts[key(p)], be) {
				continue
			}
			f := &netlink.ConntrackFilter{}
			if proto, ok := protoNumber[p.Protocol]; ok {
				f.AddProtocol(proto)
				f.AddPort(netlink.ConntrackOrigDstPort, p.Published)
			}
			f.AddIP(netlink.ConntrackReplySrcIP, be.AsSlice())
			filters = append(filters, f)
		}
	}
	if len(filters) == 0 {
		return 0, nil
	}
	n, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, filters...)
	if err != nil {
		return n, fmt.Errorf("netlb: conntrack delete: %w", err)
	}
	return n, nil
}

var protoNumber = map[string]uint8{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP, "sctp": unix.IPPROTO_SCTP}
