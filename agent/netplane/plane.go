package netplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/vishvananda/netlink"

	"github.com/shoal-dev/shoal/agent/exec"
	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/model"
)

// Labels and options of the Docker networks a plane makes.
const (
	// LabelNetworkID marks a Docker network as a shoal network's bridge
	// on this host; its value is the shoal network's ID.
	LabelNetworkID = "io.shoal.network.id"
	// LabelNetworkName is the shoal network's name, for people reading
	// `docker network ls`.
	LabelNetworkName = "io.shoal.network.name"
	// LabelVNI is the VXLAN ID the network was made for.
	LabelVNI = "io.shoal.network.vni"

	optBridgeName = "com.docker.network.bridge.name"
	optMTU        = "com.docker.network.driver.mtu"
)

// Names of what a plane makes for a network: the Docker network, its
// Linux bridge and its VXLAN device. Device names have at most 15 bytes.
func DockerNetworkName(networkID string) string { return "shoal-" + networkID }
func bridgeName(networkID string) string        { return "shb" + short(networkID) }

// BridgeName is the Linux bridge of network networkID's Docker network on
// every host.
func BridgeName(networkID string) string { return bridgeName(networkID) }
func vxlanName(networkID string) string  { return "shx" + short(networkID) }

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Plane makes a node's overlay networks real on its Docker engine: per
// network in the node's view, a Docker bridge network with the network's
// subnet and gateway (the same on every host) and, on the agent that owns
// the engine's data plane, a VXLAN device in that bridge with one static
// neighbour and forwarding entry per remote endpoint. It is safe for
// concurrent use.
type Plane struct {
	cfg Config
	log *slog.Logger

	mu   sync.Mutex
	view map[string]protocol.NetworkState // by network ID
	// known are the networks ever in this plane's view: the only ones it
	// removes (other agents of the engine, other clusters in tests, have
	// their own).
	known map[string]bool
	// createMu serialises Docker network creation.
	createMu sync.Mutex
	kick     chan struct{}

	// owner is the held lock file, nil while another agent owns the
	// engine's data plane. Used by the Run goroutine only.
	owner *os.File
	// owns mirrors owner != nil for other goroutines (Owns).
	owns atomic.Bool
	// daemonID is the engine's ID, read once.
	daemonID string
	// mtu is the overlay MTU, read once.
	mtu int
	// used is set once the view had a network: from then on the plane
	// removes what it no longer needs.
	used bool
}

// New returns a plane; Run makes it work.
func New(cfg Config) (*Plane, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Plane{
		cfg:   cfg,
		log:   log.With("component", "netplane", "node", cfg.NodeID),
		view:  map[string]protocol.NetworkState{},
		known: map[string]bool{},
		kick:  make(chan struct{}, 1),
	}, nil
}

// SetView replaces the node's view of its networks (the manager sends the
// whole view each time) and has Run reconcile at once. The plane keeps v;
// the caller must not modify it.
func (p *Plane) SetView(v *protocol.NetworkView) {
	m := map[string]protocol.NetworkState{}
	if v != nil {
		for _, ns := range v.Networks {
			// The ingress network too: the routing mesh (package
			// netlb) reaches tasks over it.
			if ns.Network != nil {
				m[ns.Network.ID] = ns
			}
		}
	}
	p.mu.Lock()
	p.view = m
	for id := range m {
		p.known[id] = true
	}
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Owns tells whether this agent owns the engine's data plane (its lock):
// the one agent of an engine that writes the engine's VXLAN entries, and
// its load-balancing rules.
func (p *Plane) Owns() bool { return p.owns.Load() }

// Gateway returns network id's gateway address as the view gives it:
// where the node's DNS server listens for the network's containers.
func (p *Plane) Gateway(id string) (string, bool) {
	ns, ok := p.network(id)
	if !ok || ns.Network == nil {
		return "", false
	}
	for _, c := range ns.Network.IPAM {
		if c.Gateway != "" {
			return c.Gateway, true
		}
	}
	return "", false
}

// Ingress tells whether network id is the routing mesh's network, which
// has no names of its own.
func (p *Plane) Ingress(id string) bool {
	ns, ok := p.network(id)
	return ok && ns.Network != nil && ns.Network.Spec.Ingress
}

func (p *Plane) network(id string) (protocol.NetworkState, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ns, ok := p.view[id]
	return ns, ok
}

// Attach makes network id ready on this host for a task about to be
// created: the Docker network exists with the network's settings and, on
// the owning agent, the VXLAN device with its entries. It returns the
// Docker network's name. A network not in the view yet is a temporary
// error (the view comes before the assignments that need it).
func (p *Plane) Attach(ctx context.Context, id string) (string, error) {
	ns, ok := p.network(id)
	if !ok {
		return "", exec.MakeTemporary(fmt.Errorf("netplane: network %s is not in this node's view yet", id))
	}
	if err := p.ensureDockerNetwork(ctx, ns.Network); err != nil {
		return "", err
	}
	// Entries for the network's endpoints now, not at the next period:
	// the task's peers must be reachable as soon as it starts.
	select {
	case p.kick <- struct{}{}:
	default:
	}
	return DockerNetworkName(id), nil
}

// Run reconciles until ctx ends, then removes what it made where nothing
// runs any more, and gives up the engine's data plane.
func (p *Plane) Run(ctx context.Context) error {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		if err := p.reconcile(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("reconcile", "err", err)
		}
		select {
		case <-ctx.Done():
			p.shutdown()
			return nil
		case <-t.C:
		case <-p.kick:
		}
	}
}

// reconcile makes the engine and the kernel match the view.
func (p *Plane) reconcile(ctx context.Context) error {
	p.mu.Lock()
	view := make(map[string]protocol.NetworkState, len(p.view))
	for id, ns := range p.view {
		view[id] = ns
	}
	p.mu.Unlock()
	if len(view) == 0 && !p.used {
		// A node that never had a network costs the engine nothing.
		return nil
	}
	p.used = true
	if err := p.tryOwn(ctx); err != nil {
		return err
	}

	var errs []error
	for id, ns := range view {
		if err := p.ensureDockerNetwork(ctx, ns.Network); err != nil {
			errs = append(errs, err)
			continue
		}
		if p.owner != nil {
			if err := p.syncVXLAN(ctx, ns); err != nil {
				errs = append(errs, fmt.Errorf("network %s: %w", id, err))
			}
		}
	}
	if err := p.removeUnused(ctx, view, p.cfg.RemoveGrace); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// shutdown removes the networks no container uses any more, whatever
// their age, and releases the lock.
func (p *Plane) shutdown() {
	if !p.used {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.removeUnused(ctx, nil, 0); err != nil {
		p.log.Warn("cleanup on shutdown", "err", err)
	}
	if p.owner != nil {
		p.owner.Close() // releases the flock
		p.owner = nil
		p.owns.Store(false)
	}
}

// tryOwn takes the engine's data-plane lock if no other agent holds it. A
// lock whose holder died is free again: flock dies with its process.
func (p *Plane) tryOwn(ctx context.Context) error {
	if p.owner != nil {
		return nil
	}
	if p.daemonID == "" {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		info, err := p.cfg.Docker.Info(cctx)
		cancel()
		if err != nil {
			return fmt.Errorf("netplane: engine info: %w", err)
		}
		// Docker 20.10 takes its ID from /etc/docker/key.json: every
		// dockerd of a machine (internal/hostbed's too) has the same
		// one. With the data root, the key is one engine's.
		sum := sha256.Sum256([]byte(info.ID + "\x00" + info.DockerRootDir))
		p.daemonID = hex.EncodeToString(sum[:8])
	}
	if err := os.MkdirAll(p.cfg.LockDir, 0o700); err != nil {
		return fmt.Errorf("netplane: lock dir: %w", err)
	}
	path := filepath.Join(p.cfg.LockDir, p.daemonID+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("netplane: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil // another agent on this engine owns it
		}
		return fmt.Errorf("netplane: lock %s: %w", path, err)
	}
	p.owner = f
	p.owns.Store(true)
	p.log.Info("this agent owns the engine's overlay data plane", "daemon", p.daemonID, "lock", path)
	return nil
}

// ensureDockerNetwork makes the Docker network of n if it is missing, and
// replaces one made for another VNI or subnet (the network was removed
// and made again with the same ID: never; a cluster restored: possibly).
func (p *Plane) ensureDockerNetwork(ctx context.Context, n *model.Network) error {
	// One at a time in this process: concurrent creates of one subnet
	// fail with "Pool overlaps" rather than a conflict.
	p.createMu.Lock()
	defer p.createMu.Unlock()
	if n.VNI == 0 || len(n.IPAM) == 0 {
		return exec.MakeTemporary(fmt.Errorf("netplane: network %s is not allocated yet", n.ID))
	}
	name := DockerNetworkName(n.ID)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	got, err := p.cfg.Docker.NetworkInspect(cctx, name, network.InspectOptions{})
	switch {
	case err == nil && matches(got, n):
		return nil
	case err == nil:
		p.log.Info("docker network differs from the shoal network: replacing it", "network", n.ID)
		if err := p.cfg.Docker.NetworkRemove(cctx, got.ID); err != nil {
			return exec.MakeTemporary(fmt.Errorf("netplane: replace docker network %s: %w", name, err))
		}
	case !cerrdefs.IsNotFound(err):
		return exec.MakeTemporary(fmt.Errorf("netplane: inspect docker network %s: %w", name, err))
	}
	mtu, err := p.overlayMTU()
	if err != nil {
		return err
	}
	ipam := &network.IPAM{Driver: "default"}
	for _, c := range n.IPAM {
		ipam.Config = append(ipam.Config, network.IPAMConfig{Subnet: c.Subnet, Gateway: c.Gateway})
	}
	// What a node killed with SIGKILL left on the engine would hold the
	// subnet for good.
	if err := p.clearStale(cctx, n); err != nil {
		return fmt.Errorf("netplane: create docker network %s (subnet %v): %w", name, n.IPAM, exec.MakeTemporary(err))
	}
	start := time.Now()
	_, err = p.cfg.Docker.NetworkCreate(cctx, name, network.CreateOptions{
		Driver:   "bridge",
		IPAM:     ipam,
		Internal: n.Spec.Internal,
		Options: map[string]string{
			optBridgeName: bridgeName(n.ID),
			optMTU:        strconv.Itoa(mtu),
		},
		Labels: map[string]string{
			LabelNetworkID:   n.ID,
			LabelNetworkName: n.Spec.Name,
			LabelVNI:         strconv.FormatUint(uint64(n.VNI), 10),
		},
	})
	if err != nil {
		// Another agent of this engine may have made it meanwhile
		// (a conflict, or the subnet's pool taken).
		if got, ierr := p.cfg.Docker.NetworkInspect(cctx, name, network.InspectOptions{}); ierr == nil && matches(got, n) {
			return nil
		}
		if held := p.overlapping(cctx, n); held != "" {
			err = fmt.Errorf("%w (overlapping: %s)", err, held)
		}
		return fmt.Errorf("netplane: create docker network %s (subnet %v): %w", name, n.IPAM, exec.MakeTemporary(err))
	}
	p.log.Info("docker network made", "network", n.ID, "name", n.Spec.Name, "subnet", n.IPAM[0].Subnet,
		"mtu", mtu, "internal", n.Spec.Internal, "took", time.Since(start))
	return nil
}

// matches tells whether a Docker network is the bridge of n.
func matches(got network.Inspect, n *model.Network) bool {
	if got.Labels[LabelNetworkID] != n.ID || got.Labels[LabelVNI] != strconv.FormatUint(uint64(n.VNI), 10) ||
		got.Internal != n.Spec.Internal || len(got.IPAM.Config) != len(n.IPAM) {
		return false
	}
	for i, c := range n.IPAM {
		if got.IPAM.Config[i].Subnet != c.Subnet || (c.Gateway != "" && got.IPAM.Config[i].Gateway != c.Gateway) {
			return false
		}
	}
	return true
}

// overlayMTU is the underlay's MTU minus VXLAN's overhead.
func (p *Plane) overlayMTU() (int, error) {
	if p.mtu != 0 {
		return p.mtu, nil
	}
	under := p.cfg.UnderlayMTU
	if under == 0 {
		under = 1500
		if local, ok := p.localAddr(); ok {
			if m, err := linkMTU(local); err == nil {
				under = m
			} else {
				p.log.Debug("underlay MTU unknown: 1500 assumed", "err", err)
			}
		} else if m, err := defaultRouteMTU(); err == nil {
			under = m
		}
	}
	p.mtu = under - VXLANOverhead
	return p.mtu, nil
}

// localAddr is this host's underlay address: the address the manager saw
// this node's session come from, in the view's peers.
func (p *Plane) localAddr() (netip.Addr, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ns := range p.view {
		for _, peer := range ns.Peers {
			if peer.NodeID == p.cfg.NodeID {
				if a, ok := parseHost(peer.Addr); ok {
					return a, true
				}
			}
		}
	}
	return netip.Addr{}, false
}

// linkMTU is the MTU of the device that holds addr.
func linkMTU(addr netip.Addr) (int, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return 0, err
	}
	for _, l := range links {
		addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if a.IP.Equal(net.IP(addr.AsSlice())) {
				return l.Attrs().MTU, nil
			}
		}
	}
	return 0, fmt.Errorf("no device holds %s", addr)
}

// defaultRouteMTU is the MTU of the device of the default route.
func defaultRouteMTU() (int, error) {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return 0, err
	}
	for _, r := range routes {
		if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
			l, err := netlink.LinkByIndex(r.LinkIndex)
			if err != nil {
				return 0, err
			}
			return l.Attrs().MTU, nil
		}
	}
	return 0, errors.New("no default route")
}

// parseHost reads an address given as "IP" or "IP:port".
func parseHost(s string) (netip.Addr, bool) {
	if h, _, err := net.SplitHostPort(s); err == nil {
		s = h
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

// remotes are a network's endpoints on other hosts: the endpoints of
// nodes whose underlay address is not this host's. Nodes on this host
// (several agents on one engine) share the bridge and need no entry.
func remotes(ns protocol.NetworkState, local netip.Addr) []Remote {
	hosts := map[string]netip.Addr{}
	for _, peer := range ns.Peers {
		if a, ok := parseHost(peer.Addr); ok {
			hosts[peer.NodeID] = a
		}
	}
	var out []Remote
	// Other nodes' load-balancer addresses: the replies of connections
	// another node balanced here (SNAT to its address) go back to it.
	for _, peer := range ns.Peers {
		host, ok := hosts[peer.NodeID]
		if !ok || host == local || peer.LBAddress == "" {
			continue
		}
		if pfx, err := netip.ParsePrefix(peer.LBAddress); err == nil && pfx.Addr().Is4() {
			out = append(out, Remote{IP: pfx.Addr(), Host: host})
		}
	}
	for _, ep := range ns.Endpoints {
		host, ok := hosts[ep.NodeID]
		if !ok || host == local {
			continue
		}
		for _, cidr := range ep.Addresses {
			pfx, err := netip.ParsePrefix(cidr)
			if err != nil || !pfx.Addr().Is4() {
				continue
			}
			out = append(out, Remote{IP: pfx.Addr(), Host: host})
		}
	}
	return out
}

// syncVXLAN makes the network's VXLAN device and its entries match the
// view.
func (p *Plane) syncVXLAN(ctx context.Context, ns protocol.NetworkState) error {
	local, ok := p.localAddr()
	if !ok {
		return errors.New("netplane: this node's underlay address is not in the view")
	}
	mtu, err := p.overlayMTU()
	if err != nil {
		return err
	}
	h := &netlink.Handle{} // this process's network namespace: the host's
	n := ns.Network
	want := remotes(ns, local)
	if len(want) == 0 {
		// Every endpoint is on this host (a loopback cluster, or the
		// first task): no tunnel until a remote one comes. A device
		// made before is kept, emptied.
		if _, err := h.LinkByName(vxlanName(n.ID)); isNotFound(err) {
			return nil
		}
	}
	if err := ensureVXLAN(h, vxlanSpec{Name: vxlanName(n.ID), VNI: n.VNI, Local: local, MTU: mtu, Bridge: bridgeName(n.ID)}); err != nil {
		return err
	}
	d, err := syncPeers(h, vxlanName(n.ID), want)
	if err != nil {
		return err
	}
	if d.Added+d.Removed > 0 {
		p.log.Info("overlay entries updated", "network", n.ID, "vni", n.VNI, "remotes", len(want), "added", d.Added, "removed", d.Removed)
	}
	return nil
}

// removeUnused removes the Docker networks (and VXLAN devices) of
// networks this plane had in its view that are not in keep, have no
// container, and are older than grace.
func (p *Plane) removeUnused(ctx context.Context, keep map[string]protocol.NetworkState, grace time.Duration) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	list, err := p.cfg.Docker.NetworkList(cctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelNetworkID))})
	if err != nil {
		return fmt.Errorf("netplane: list docker networks: %w", err)
	}
	var errs []error
	for _, s := range list {
		id := s.Labels[LabelNetworkID]
		p.mu.Lock()
		known := p.known[id]
		p.mu.Unlock()
		if _, ok := keep[id]; ok || !known || time.Since(s.Created) < grace {
			continue
		}
		// The list does not say which containers are attached.
		got, err := p.cfg.Docker.NetworkInspect(cctx, s.ID, network.InspectOptions{})
		if err != nil || len(got.Containers) > 0 {
			continue
		}
		if err := p.cfg.Docker.NetworkRemove(cctx, s.ID); err != nil && !cerrdefs.IsNotFound(err) {
			// A container attached since the inspect: keep it.
			p.log.Debug("docker network still in use", "network", id, "err", err)
			continue
		}
		if p.owner != nil {
			if err := removeLink(&netlink.Handle{}, vxlanName(id)); err != nil {
				errs = append(errs, err)
			}
		}
		p.log.Info("docker network removed: no task of this host uses it", "network", id, "name", s.Labels[LabelNetworkName])
	}
	return errors.Join(errs...)
}
