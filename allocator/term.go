package allocator

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/shoal-dev/shoal/allocator/ipam"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// term is one continuous watch of the store, from a snapshot until the
// context ends or the change feed must resync. Everything it holds is
// derived from the store: a new term (a new leader) rebuilds it.
type term struct {
	a   *Allocator
	log *slog.Logger

	subnets *ipam.SubnetPool
	vnis    *ipam.NumberPool
	ports   *ipam.NumberPool

	// networks are the last seen networks; nets the allocated ones.
	networks map[string]*model.Network
	nets     map[string]*netAlloc
	ingress  string // the ingress network's ID, if any
	services map[string]*model.Service
	nodes    map[string]*model.Node

	// Addresses held, by owner then network: tasks' addresses, services'
	// virtual IPs, nodes' load-balancer addresses.
	taskAddrs map[string]map[string]netip.Addr
	vips      map[string]map[string]netip.Addr
	lbs       map[string]map[string]netip.Addr
	// svcPorts are the ingress published ports each service holds.
	svcPorts map[string][]uint32
	// ingressUsers counts the services that publish ingress ports: while
	// there are any, every node gets a load-balancer address on ingress.
	ingressUsers map[string]bool

	// placed are the live assigned tasks with attachments: their node
	// and networks; nodeNets counts them per node and network.
	placed   map[string]placement
	nodeNets map[string]map[string]int

	// waiting are the NEW tasks that wait for their attachments; blocked
	// those a pass could not give them to, until something comes free.
	waiting map[string]*model.Task
	blocked map[string]*model.Task
	// queue holds the waiting tasks' IDs in the order they came to wait
	// (and IDs of tasks no longer waiting, skipped).
	queue []string

	// What the next pass looks at.
	dirtyNets, dirtySvcs, dirtyNodes map[string]bool
	// failed remembers the last allocation error per object, so that a
	// pass that fails the same way again does not log it again.
	failed map[string]string

	firstChange, due time.Time
}

type netAlloc struct {
	subnet netip.Prefix
	vni    uint32
	space  *ipam.AddrSpace
}

type placement struct {
	node string
	nets []string
}

func newTerm(a *Allocator) *term {
	return &term{
		a:            a,
		log:          a.log,
		vnis:         ipam.NewVXLANPool(),
		ports:        ipam.NewPortPool(),
		networks:     map[string]*model.Network{},
		nets:         map[string]*netAlloc{},
		services:     map[string]*model.Service{},
		nodes:        map[string]*model.Node{},
		taskAddrs:    map[string]map[string]netip.Addr{},
		vips:         map[string]map[string]netip.Addr{},
		lbs:          map[string]map[string]netip.Addr{},
		svcPorts:     map[string][]uint32{},
		ingressUsers: map[string]bool{},
		placed:       map[string]placement{},
		nodeNets:     map[string]map[string]int{},
		waiting:      map[string]*model.Task{},
		blocked:      map[string]*model.Task{},
		dirtyNets:    map[string]bool{},
		dirtySvcs:    map[string]bool{},
		dirtyNodes:   map[string]bool{},
		failed:       map[string]string{},
	}
}

func relevant(e state.Event) bool {
	switch e.Object.(type) {
	case *model.Network, *model.Service, *model.Task, *model.Node, *model.Cluster:
		return true
	}
	return false
}

func (t *term) run(ctx context.Context) error {
	// A barrier: once a command of ours is applied, every command an
	// earlier term of ours (or an earlier leader) proposed is applied or
	// lost for good, so the snapshot below holds every allocation that
	// will ever commit.
	if _, err := t.a.proposer.Propose(ctx, state.NewCommand(state.Op{Type: state.OpNoop})); err != nil {
		return fmt.Errorf("barrier: %w", err)
	}
	w, err := t.a.store.ViewAndWatch(t.seed, state.WithFilter(relevant))
	if err != nil {
		return err
	}
	defer w.Close()
	var timer *time.Timer
	var timerC <-chan time.Time
	var timerAt time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if next := t.nextPass(); !next.Equal(timerAt) {
			if timer != nil {
				timer.Stop()
				timer, timerC = nil, nil
			}
			timerAt = next
			if !next.IsZero() {
				timer = time.NewTimer(max(time.Until(next), 0))
				timerC = timer.C
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.Ready():
			if err := t.drain(w); err != nil {
				return err
			}
		case <-timerC:
			timer, timerC, timerAt = nil, nil, time.Time{}
			if err := t.drain(w); err != nil {
				return err
			}
			if err := t.pass(ctx); err != nil {
				return err
			}
		}
	}
}

func (t *term) drain(w *state.Watcher) error {
	batches, err := w.Drain()
	if err != nil {
		return err
	}
	for _, b := range batches {
		for _, ev := range b.Events {
			t.observe(ev)
		}
	}
	if t.hasWork() {
		t.want(time.Now())
	}
	return nil
}

func (t *term) hasWork() bool {
	return len(t.dirtyNets) > 0 || len(t.dirtySvcs) > 0 || len(t.dirtyNodes) > 0 || len(t.waiting) > 0
}

func (t *term) want(now time.Time) {
	cfg := &t.a.cfg
	if t.firstChange.IsZero() {
		t.firstChange = now
	}
	t.due = now.Add(cfg.Debounce)
	if last := t.firstChange.Add(cfg.MaxDelay); t.due.After(last) {
		t.due = last
	}
}

func (t *term) nextPass() time.Time { return t.due }

// ---------------------------------------------------------------------------
// Rebuilding from the store

// seed rebuilds what is held from a snapshot: networks first (their
// address spaces), then what holds addresses in them.
func (t *term) seed(tx state.ReadTx) error {
	var pools []string
	var size int
	if c := tx.Cluster(); c != nil {
		pools, size = c.Spec.AddrPool(), int(c.Spec.Subnet())
	}
	sp, err := ipam.NewSubnetPool(pools, size)
	if err != nil {
		// The API refuses such pools; a store holding one is a bug,
		// and the default keeps networks working.
		t.log.Error("the cluster's address pool cannot be used; using the default", "err", err)
		sp, _ = ipam.NewSubnetPool(nil, 0)
	}
	t.subnets = sp

	networks, err := tx.FindNetworks(state.All)
	if err != nil {
		return err
	}
	for _, n := range networks {
		t.networks[n.ID] = n
		if n.Spec.Ingress {
			t.ingress = n.ID
		}
		if allocated(n) {
			if err := t.reserveNetwork(n); err != nil {
				t.log.Error("network allocation in the store conflicts with another; it is allocated again", "network", n.ID, "err", err)
				t.dirtyNets[n.ID] = true
			}
		} else {
			t.dirtyNets[n.ID] = true
		}
	}
	services, err := tx.FindServices(state.All)
	if err != nil {
		return err
	}
	for _, s := range services {
		t.services[s.ID] = s
		t.holdService(s)
		t.dirtySvcs[s.ID] = true
	}
	nodes, err := tx.FindNodes(state.All)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		t.nodes[n.ID] = n
		t.holdNode(n)
		t.dirtyNodes[n.ID] = true
	}
	err = tx.ForEachTask(state.All, func(task *model.Task) bool {
		t.observeTask(task, false)
		return true
	})
	if err != nil {
		return err
	}
	t.log.Info("allocating", "index", tx.Index(), "networks", len(t.networks), "allocated", len(t.nets),
		"tasks_with_addresses", len(t.taskAddrs), "waiting", len(t.waiting))
	if t.hasWork() {
		t.want(time.Now())
	}
	return nil
}

func allocated(n *model.Network) bool { return n.VNI != 0 && len(n.IPAM) > 0 }

// ipamOf parses a network's first IPAM config.
func ipamOf(c model.IPAMConfig) (subnet netip.Prefix, gw netip.Addr, ipRange netip.Prefix, err error) {
	if subnet, err = netip.ParsePrefix(c.Subnet); err != nil {
		return subnet, gw, ipRange, fmt.Errorf("%w: subnet %q: %v", ipam.ErrInvalid, c.Subnet, err)
	}
	if c.Gateway != "" {
		if gw, err = netip.ParseAddr(c.Gateway); err != nil {
			return subnet, gw, ipRange, fmt.Errorf("%w: gateway %q: %v", ipam.ErrInvalid, c.Gateway, err)
		}
	}
	if c.Range != "" {
		if ipRange, err = netip.ParsePrefix(c.Range); err != nil {
			return subnet, gw, ipRange, fmt.Errorf("%w: IP range %q: %v", ipam.ErrInvalid, c.Range, err)
		}
	}
	return subnet, gw, ipRange, nil
}

// reserveNetwork takes the subnet and VXLAN ID an allocated network holds.
func (t *term) reserveNetwork(n *model.Network) error {
	subnet, gw, r, err := ipamOf(n.IPAM[0])
	if err != nil {
		return err
	}
	space, err := ipam.NewAddrSpace(subnet, gw, r)
	if err != nil {
		return err
	}
	if err := t.subnets.Reserve(subnet); err != nil {
		return err
	}
	if err := t.vnis.Reserve(n.VNI); err != nil {
		t.subnets.Release(subnet)
		return err
	}
	t.nets[n.ID] = &netAlloc{subnet: space.Prefix(), vni: n.VNI, space: space}
	return nil
}

func (t *term) releaseNetwork(id string) {
	na := t.nets[id]
	if na == nil {
		return
	}
	t.subnets.Release(na.subnet)
	t.vnis.Release(na.vni)
	delete(t.nets, id)
	// Addresses in its space go with it.
	for _, m := range []map[string]map[string]netip.Addr{t.taskAddrs, t.vips, t.lbs} {
		for owner, held := range m {
			delete(held, id)
			if len(held) == 0 {
				delete(m, owner)
			}
		}
	}
}

// reserveAddrs takes the addresses (CIDR notation) an owner holds in the
// store, in held; an address on a network not allocated here is skipped.
func (t *term) reserveAddr(held map[string]netip.Addr, netID, cidr, owner string) {
	na := t.nets[netID]
	if na == nil {
		return
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		t.log.Error("an address in the store cannot be parsed", "owner", owner, "network", netID, "addr", cidr, "err", err)
		return
	}
	if old, ok := held[netID]; ok && old == p.Addr() {
		return
	}
	if err := na.space.Reserve(p.Addr()); err != nil {
		// Two holders of one address: a bug, loud.
		t.log.Error("an address in the store is held twice", "owner", owner, "network", netID, "addr", cidr, "err", err)
		return
	}
	held[netID] = p.Addr()
}

func (t *term) releaseAddrs(m map[string]map[string]netip.Addr, owner string) {
	for netID, ip := range m[owner] {
		if na := t.nets[netID]; na != nil {
			na.space.Release(ip)
		}
	}
	delete(m, owner)
	t.unblock()
}

func holdIn(m map[string]map[string]netip.Addr, owner string) map[string]netip.Addr {
	h := m[owner]
	if h == nil {
		h = map[string]netip.Addr{}
		m[owner] = h
	}
	return h
}

// holdService takes the virtual IPs and ports a service holds in the
// store, if it holds none here yet.
func (t *term) holdService(s *model.Service) {
	if s.Endpoint == nil {
		return
	}
	if _, ok := t.vips[s.ID]; !ok && len(s.Endpoint.VirtualIPs) > 0 {
		h := holdIn(t.vips, s.ID)
		for _, v := range s.Endpoint.VirtualIPs {
			t.reserveAddr(h, v.NetworkID, v.Addr, "service "+s.ID)
		}
	}
	if _, ok := t.svcPorts[s.ID]; !ok {
		var ports []uint32
		for _, p := range s.Endpoint.Ports {
			if isIngress(&p) && p.PublishedPort != 0 {
				if err := t.ports.Reserve(p.PublishedPort); err != nil {
					t.log.Error("a published port in the store is held twice", "service", s.ID, "port", p.PublishedPort, "err", err)
					continue
				}
				ports = append(ports, p.PublishedPort)
			}
		}
		if len(ports) > 0 {
			t.svcPorts[s.ID] = ports
		}
	}
	if hasIngressPorts(s.Spec.Endpoint) {
		t.ingressUsers[s.ID] = true
	}
}

func (t *term) releaseService(id string) {
	t.releaseAddrs(t.vips, id)
	for _, p := range t.svcPorts[id] {
		t.ports.Release(p)
	}
	delete(t.svcPorts, id)
}

func (t *term) holdNode(n *model.Node) {
	if _, ok := t.lbs[n.ID]; ok || len(n.Attachments) == 0 {
		return
	}
	h := holdIn(t.lbs, n.ID)
	for _, a := range n.Attachments {
		t.reserveAddr(h, a.NetworkID, a.Address, "node "+n.ID)
	}
}

func isIngress(p *model.PortConfig) bool {
	return p.PublishMode == model.PublishModeIngress || p.PublishMode == ""
}

func hasIngressPorts(e *model.EndpointSpec) bool {
	if e == nil {
		return false
	}
	for i := range e.Ports {
		if isIngress(&e.Ports[i]) {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// The change feed

func (t *term) observe(ev state.Event) {
	switch o := ev.Object.(type) {
	case *model.Network:
		t.observeNetwork(ev.Action, o)
	case *model.Service:
		if ev.Action == state.ActionDelete {
			delete(t.services, o.ID)
			delete(t.dirtySvcs, o.ID)
			delete(t.ingressUsers, o.ID)
			delete(t.failed, o.ID)
			t.releaseService(o.ID)
			t.allNodesDirty()
			return
		}
		t.services[o.ID] = o
		t.holdService(o)
		if !hasIngressPorts(o.Spec.Endpoint) && t.ingressUsers[o.ID] {
			delete(t.ingressUsers, o.ID)
			t.allNodesDirty()
		} else if hasIngressPorts(o.Spec.Endpoint) && !t.ingressUsers[o.ID] {
			t.ingressUsers[o.ID] = true
			t.allNodesDirty()
		}
		t.dirtySvcs[o.ID] = true
	case *model.Node:
		if ev.Action == state.ActionDelete {
			delete(t.nodes, o.ID)
			delete(t.dirtyNodes, o.ID)
			delete(t.nodeNets, o.ID)
			t.releaseAddrs(t.lbs, o.ID)
			return
		}
		if t.nodes[o.ID] == nil {
			t.dirtyNodes[o.ID] = true
		}
		t.nodes[o.ID] = o
		t.holdNode(o)
	case *model.Task:
		t.observeTask(o, ev.Action == state.ActionDelete)
	}
}

func (t *term) allNodesDirty() {
	for id := range t.nodes {
		t.dirtyNodes[id] = true
	}
}

func (t *term) observeNetwork(action state.Action, n *model.Network) {
	if action == state.ActionDelete {
		delete(t.networks, n.ID)
		delete(t.dirtyNets, n.ID)
		delete(t.failed, n.ID)
		if t.ingress == n.ID {
			t.ingress = ""
		}
		t.releaseNetwork(n.ID)
		// A subnet came free: networks that found none may now.
		for id, other := range t.networks {
			if t.nets[id] == nil && !allocated(other) {
				t.dirtyNets[id] = true
			}
		}
		return
	}
	t.networks[n.ID] = n
	if n.Spec.Ingress {
		t.ingress = n.ID
	}
	switch na := t.nets[n.ID]; {
	case na != nil:
		// Our own write coming back, or a user's update of the labels.
	case allocated(n):
		if err := t.reserveNetwork(n); err != nil {
			t.log.Error("network allocation in the store conflicts with another", "network", n.ID, "err", err)
		}
		t.networkReady()
	default:
		t.dirtyNets[n.ID] = true
	}
}

// networkReady makes the next pass look again at what may have waited
// for a network.
func (t *term) networkReady() {
	for id := range t.services {
		t.dirtySvcs[id] = true
	}
	t.allNodesDirty()
}

// live tells whether a task still holds its addresses: until it has
// stopped (a terminal observed state) or is deleted.
func live(task *model.Task) bool { return !task.Status.State.Terminal() }

func (t *term) observeTask(task *model.Task, deleted bool) {
	id := task.ID
	if deleted || !live(task) {
		delete(t.waiting, id)
		delete(t.blocked, id)
		if _, ok := t.taskAddrs[id]; ok {
			t.releaseAddrs(t.taskAddrs, id)
		}
		t.unplace(id)
		return
	}
	if len(task.Networks) > 0 {
		if _, ok := t.taskAddrs[id]; !ok {
			h := holdIn(t.taskAddrs, id)
			for _, a := range task.Networks {
				for _, cidr := range a.Addresses {
					t.reserveAddr(h, a.NetworkID, cidr, "task "+id)
				}
			}
		}
		if task.NodeID != "" && task.Status.State >= model.TaskStateAssigned {
			t.place(id, task)
		}
	}
	if task.Status.State == model.TaskStateNew && task.DesiredState <= model.TaskStateRunning &&
		len(task.Networks) == 0 && state.NeedsNetworks(&task.Spec, task.Endpoint) {
		if _, ok := t.blocked[id]; ok {
			t.blocked[id] = task
		} else {
			t.wait(id, task)
		}
	} else {
		delete(t.waiting, id)
		delete(t.blocked, id)
	}
}

// wait records a task as waiting for its attachments, queued once.
func (t *term) wait(id string, task *model.Task) {
	if _, queued := t.waiting[id]; !queued {
		t.queue = append(t.queue, id)
	}
	t.waiting[id] = task
}

func (t *term) place(id string, task *model.Task) {
	if p, ok := t.placed[id]; ok && p.node == task.NodeID {
		return
	}
	t.unplace(id)
	p := placement{node: task.NodeID}
	counts := t.nodeNets[task.NodeID]
	if counts == nil {
		counts = map[string]int{}
		t.nodeNets[task.NodeID] = counts
	}
	for _, a := range task.Networks {
		p.nets = append(p.nets, a.NetworkID)
		if counts[a.NetworkID]++; counts[a.NetworkID] == 1 {
			t.dirtyNodes[task.NodeID] = true
		}
	}
	t.placed[id] = p
}

func (t *term) unplace(id string) {
	p, ok := t.placed[id]
	if !ok {
		return
	}
	delete(t.placed, id)
	counts := t.nodeNets[p.node]
	for _, n := range p.nets {
		if counts[n]--; counts[n] <= 0 {
			delete(counts, n)
			if _, known := t.nodes[p.node]; known {
				t.dirtyNodes[p.node] = true
			}
		}
	}
	if len(counts) == 0 {
		delete(t.nodeNets, p.node)
	}
}

// note logs an allocation failure once per object and message.
func (t *term) note(id, kind string, err error) {
	msg := err.Error()
	if t.failed[id] == msg {
		return
	}
	t.failed[id] = msg
	t.log.Warn("cannot allocate "+kind, kind, id, "err", err)
}

// sortedKeys returns the keys of m in order: a pass is reproducible.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
