package allocator

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"time"

	"github.com/shoal-dev/shoal/allocator/ipam"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// change is one allocation of a pass: it is taken from the pools when the
// pass plans it, then, once the command is written, kept (commit) if the
// store shows it (check) or given back (abort) if the store refused it
// (the object changed or went away meanwhile). Releases an allocation
// makes (a VIP on a network a service left) happen only on commit, so a
// refused write never loses what the store still holds.
type change struct {
	check  func(tx state.ReadTx) bool
	commit func()
	abort  func()
}

// plan is what one pass writes.
type plan struct {
	ops     []state.Op
	changes []change
	tasks   []state.TaskNetworks
	reasons []state.PendingReason
}

// pass allocates what is dirty or waiting and writes it in one command.
// A failed write ends the term: its outcome is unknown, and the next term
// rebuilds from the store after a barrier.
func (t *term) pass(ctx context.Context) error {
	t.firstChange, t.due = time.Time{}, time.Time{}
	p := &plan{}
	t.planNetworks(p)
	t.planServices(p)
	t.planTasks(p)
	t.planNodes(p)
	if len(p.tasks) > 0 {
		p.ops = append(p.ops, state.Op{Type: state.OpAllocateTasks, TaskNetworks: p.tasks})
	}
	if len(p.reasons) > 0 {
		p.ops = append(p.ops, state.Op{Type: state.OpTaskPending, Pending: p.reasons})
	}
	if len(p.ops) == 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, t.a.cfg.ProposeTimeout)
	start := time.Now()
	_, err := t.a.proposer.Propose(cctx, state.NewCommand(p.ops...))
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("writing %d allocations: %w", len(p.changes), err)
	}
	applied := 0
	_ = t.a.store.View(func(tx state.ReadTx) error {
		for _, c := range p.changes {
			if c.check(tx) {
				c.commit()
				applied++
			} else {
				c.abort()
			}
		}
		return nil
	})
	t.log.Debug("allocation pass", "ops", len(p.ops), "allocations", len(p.changes), "applied", applied,
		"tasks", len(p.tasks), "took", time.Since(start))
	if len(t.waiting) > 0 || len(t.dirtyNets) > 0 || len(t.dirtySvcs) > 0 || len(t.dirtyNodes) > 0 {
		t.want(time.Now())
	}
	return nil
}

// ---------------------------------------------------------------------------
// Networks

func (t *term) planNetworks(p *plan) {
	for _, id := range sortedKeys(t.dirtyNets) {
		delete(t.dirtyNets, id)
		n := t.networks[id]
		if n == nil || t.nets[id] != nil || allocated(n) {
			continue
		}
		na, cfg, err := t.allocateNetwork(n)
		if err != nil {
			t.note(id, "network", fmt.Errorf("network %s: %w", n.Spec.Name, err))
			continue
		}
		delete(t.failed, id)
		vni, subnet := na.vni, cfg.Subnet
		p.ops = append(p.ops, state.Op{
			Type:    state.OpAllocateNetwork,
			Network: &model.Network{ID: id, VNI: na.vni, IPAM: []model.IPAMConfig{cfg}},
			Version: n.Version.Index,
		})
		p.changes = append(p.changes, change{
			check: func(tx state.ReadTx) bool {
				s := tx.GetNetwork(id)
				return s != nil && s.VNI == vni && len(s.IPAM) > 0 && s.IPAM[0].Subnet == subnet
			},
			commit: func() {
				t.nets[id] = na
				t.networkReady()
				t.unblock()
			},
			abort: func() {
				t.subnets.Release(na.subnet)
				t.vnis.Release(na.vni)
			},
		})
	}
}

// allocateNetwork takes a subnet (the spec's, or one from the pools) and
// a VXLAN ID for n.
func (t *term) allocateNetwork(n *model.Network) (*netAlloc, model.IPAMConfig, error) {
	var want model.IPAMConfig
	if n.Spec.IPAM != nil && len(n.Spec.IPAM.Configs) > 0 {
		want = n.Spec.IPAM.Configs[0]
	}
	var subnet netip.Prefix
	var gw netip.Addr
	var ipRange netip.Prefix
	if want.Subnet != "" {
		var err error
		if subnet, gw, ipRange, err = ipamOf(want); err != nil {
			return nil, want, err
		}
		if err := t.subnets.Reserve(subnet); err != nil {
			return nil, want, err
		}
	} else {
		var err error
		if subnet, err = t.subnets.Allocate(); err != nil {
			return nil, want, err
		}
	}
	space, err := ipam.NewAddrSpace(subnet, gw, ipRange)
	if err != nil {
		t.subnets.Release(subnet)
		return nil, want, err
	}
	vni, err := t.vnis.Allocate()
	if err != nil {
		t.subnets.Release(subnet)
		return nil, want, err
	}
	cfg := model.IPAMConfig{Subnet: space.Prefix().String(), Gateway: space.Gateway().String(), Range: want.Range}
	return &netAlloc{subnet: space.Prefix(), vni: vni, space: space}, cfg, nil
}

// ---------------------------------------------------------------------------
// Addresses held per network by one owner

// reallocation is an owner's addresses after a change: what it keeps and
// takes, and what it gives back once the change is written.
type reallocation struct {
	next     map[string]netip.Addr
	taken    map[string]netip.Addr
	released map[string]netip.Addr
}

// reallocate gives an owner that holds cur an address on each of nets,
// keeping those it has. On failure it gives back what it took.
func (t *term) reallocate(cur map[string]netip.Addr, nets []string) (*reallocation, error) {
	r := &reallocation{next: map[string]netip.Addr{}, taken: map[string]netip.Addr{}, released: map[string]netip.Addr{}}
	for _, id := range nets {
		if ip, ok := cur[id]; ok {
			r.next[id] = ip
			continue
		}
		na := t.nets[id]
		if na == nil {
			t.giveBack(r.taken)
			return nil, fmt.Errorf("network %s is not allocated yet", t.networkName(id))
		}
		ip, err := na.space.Allocate()
		if err != nil {
			t.giveBack(r.taken)
			return nil, fmt.Errorf("network %s: %w", t.networkName(id), err)
		}
		r.next[id], r.taken[id] = ip, ip
	}
	for id, ip := range cur {
		if _, ok := r.next[id]; !ok {
			r.released[id] = ip
		}
	}
	return r, nil
}

// unallocated tells whether some of nets exist but are not allocated yet
// (a pass will allocate them, or has failed to: then the error says why),
// or fails for a network that does not exist.
func (t *term) unallocated(nets []string) (bool, error) {
	for _, id := range nets {
		if t.nets[id] != nil {
			continue
		}
		n := t.networks[id]
		if n == nil {
			return false, fmt.Errorf("network %s does not exist", id)
		}
		if msg := t.failed[id]; msg != "" {
			return true, errors.New(msg)
		}
		return true, nil
	}
	return false, nil
}

func (t *term) giveBack(m map[string]netip.Addr) {
	for id, ip := range m {
		if na := t.nets[id]; na != nil {
			na.space.Release(ip)
		}
	}
	if len(m) > 0 {
		t.unblock()
	}
}

func (t *term) networkName(id string) string {
	if n := t.networks[id]; n != nil {
		return n.Spec.Name
	}
	return id
}

// cidr writes ip with its network's prefix length.
func (t *term) cidr(netID string, ip netip.Addr) string {
	if na := t.nets[netID]; na != nil {
		return netip.PrefixFrom(ip, na.subnet.Bits()).String()
	}
	return ip.String() + "/32"
}

// unblock makes the tasks that found no address wait again: an address
// or a network came free.
func (t *term) unblock() {
	for _, id := range sortedKeys(t.blocked) {
		t.wait(id, t.blocked[id])
		delete(t.blocked, id)
	}
}

// ---------------------------------------------------------------------------
// Services

// serviceNetworks returns the networks a service gets a virtual IP on:
// its tasks' networks and, if it publishes ingress ports, the ingress
// network; none in dnsrr mode.
func (t *term) serviceNetworks(spec *model.ServiceSpec) []string {
	if spec.Endpoint != nil && spec.Endpoint.Mode == model.ResolutionModeDNSRR {
		return nil
	}
	var nets []string
	for _, a := range spec.Task.Networks {
		if !slices.Contains(nets, a.Target) {
			nets = append(nets, a.Target)
		}
	}
	if hasIngressPorts(spec.Endpoint) && t.ingress != "" && !slices.Contains(nets, t.ingress) {
		nets = append(nets, t.ingress)
	}
	return nets
}

func (t *term) planServices(p *plan) {
	for _, id := range sortedKeys(t.dirtySvcs) {
		delete(t.dirtySvcs, id)
		s := t.services[id]
		if s == nil {
			continue
		}
		if hasIngressPorts(s.Spec.Endpoint) && t.ingress == "" {
			t.note(id, "service", fmt.Errorf("service %s publishes ingress ports but there is no ingress network", s.Spec.Name))
			continue
		}
		nets := t.serviceNetworks(&s.Spec)
		if len(nets) == 0 && s.Endpoint == nil && (s.Spec.Endpoint == nil || len(s.Spec.Endpoint.Ports) == 0) {
			continue // nothing to allocate, nothing held
		}
		if pending, err := t.unallocated(nets); pending || err != nil {
			if err != nil {
				t.note(id, "service", fmt.Errorf("virtual IP of service %s: %w", s.Spec.Name, err))
			}
			continue // looked at again once the network is allocated
		}
		vr, err := t.reallocate(t.vips[id], nets)
		if err != nil {
			t.note(id, "service", fmt.Errorf("virtual IP of service %s: %w", s.Spec.Name, err))
			continue
		}
		ports, takenPorts, releasedPorts, err := t.allocatePorts(s)
		if err != nil {
			t.giveBack(vr.taken)
			t.note(id, "service", fmt.Errorf("published port of service %s: %w", s.Spec.Name, err))
			continue
		}
		delete(t.failed, id)
		ep := &model.Endpoint{Ports: ports}
		if s.Spec.Endpoint != nil {
			ep.Spec = *s.Spec.Endpoint
		}
		for _, n := range nets {
			ep.VirtualIPs = append(ep.VirtualIPs, model.EndpointVirtualIP{NetworkID: n, Addr: t.cidr(n, vr.next[n])})
		}
		if reflect.DeepEqual(s.Endpoint, ep) {
			continue
		}
		p.ops = append(p.ops, state.Op{Type: state.OpAllocateService, Service: &model.Service{ID: id, Endpoint: ep}, Version: s.Version.Index})
		p.changes = append(p.changes, change{
			check: func(tx state.ReadTx) bool {
				s := tx.GetService(id)
				return s != nil && reflect.DeepEqual(s.Endpoint, ep)
			},
			commit: func() {
				t.giveBack(vr.released)
				for _, port := range releasedPorts {
					t.ports.Release(port)
				}
				if len(vr.next) > 0 {
					t.vips[id] = vr.next
				} else {
					delete(t.vips, id)
				}
				if held := portsOf(ports); len(held) > 0 {
					t.svcPorts[id] = held
				} else {
					delete(t.svcPorts, id)
				}
			},
			abort: func() {
				t.giveBack(vr.taken)
				for _, port := range takenPorts {
					t.ports.Release(port)
				}
			},
		})
	}
}

// portsOf returns the ingress published ports of ports.
func portsOf(ports []model.PortConfig) []uint32 {
	var out []uint32
	for i := range ports {
		if isIngress(&ports[i]) && ports[i].PublishedPort != 0 {
			out = append(out, ports[i].PublishedPort)
		}
	}
	return out
}

// allocatePorts fills in the published ports of a service's ingress ports
// that name none: the one it had for the same target port and protocol,
// or a new one from the dynamic range. Explicit ports are checked against
// other services by the store (OpCreateService, OpUpdateService); here
// they are only held, so that the dynamic range never gives them out.
func (t *term) allocatePorts(s *model.Service) (ports []model.PortConfig, taken, released []uint32, err error) {
	held := t.svcPorts[s.ID]
	var keep []uint32
	var specPorts []model.PortConfig
	if s.Spec.Endpoint != nil {
		specPorts = s.Spec.Endpoint.Ports
	}
	fail := func(e error) ([]model.PortConfig, []uint32, []uint32, error) {
		for _, p := range taken {
			t.ports.Release(p)
		}
		return nil, nil, nil, e
	}
	// Explicit ports first, so that a dynamic port reused below is not
	// one the spec now names.
	for _, p := range specPorts {
		if !isIngress(&p) || p.PublishedPort == 0 {
			continue
		}
		if slices.Contains(held, p.PublishedPort) || slices.Contains(keep, p.PublishedPort) {
			keep = append(keep, p.PublishedPort)
			continue
		}
		if err := t.ports.Reserve(p.PublishedPort); err != nil {
			return fail(err)
		}
		taken = append(taken, p.PublishedPort)
		keep = append(keep, p.PublishedPort)
	}
	var old []model.PortConfig
	if s.Endpoint != nil {
		old = s.Endpoint.Ports
	}
	for _, p := range specPorts {
		if !isIngress(&p) || p.PublishedPort != 0 {
			ports = append(ports, p)
			continue
		}
		var got uint32
		for _, o := range old {
			if isIngress(&o) && o.Protocol == p.Protocol && o.TargetPort == p.TargetPort &&
				slices.Contains(held, o.PublishedPort) && !slices.Contains(keep, o.PublishedPort) {
				got = o.PublishedPort
				break
			}
		}
		if got == 0 {
			n, err := t.ports.Allocate()
			if err != nil {
				return fail(err)
			}
			got = n
			taken = append(taken, n)
		}
		keep = append(keep, got)
		p.PublishedPort = got
		ports = append(ports, p)
	}
	for _, p := range held {
		if !slices.Contains(keep, p) {
			released = append(released, p)
		}
	}
	return ports, taken, released, nil
}

// ---------------------------------------------------------------------------
// Tasks

// taskNetworks returns the attachments a task asks for: its spec's
// networks, and the ingress network if its service publishes ingress
// ports.
func (t *term) taskNetworks(task *model.Task) ([]model.NetworkAttachment, error) {
	var out []model.NetworkAttachment
	for _, a := range task.Spec.Networks {
		if slices.ContainsFunc(out, func(o model.NetworkAttachment) bool { return o.NetworkID == a.Target }) {
			continue
		}
		out = append(out, model.NetworkAttachment{NetworkID: a.Target, Aliases: a.Aliases})
	}
	if hasIngressPorts(task.Endpoint) {
		if t.ingress == "" {
			return nil, errors.New("the service publishes ingress ports but there is no ingress network")
		}
		if !slices.ContainsFunc(out, func(o model.NetworkAttachment) bool { return o.NetworkID == t.ingress }) {
			out = append(out, model.NetworkAttachment{NetworkID: t.ingress})
		}
	}
	return out, nil
}

func (t *term) planTasks(p *plan) {
	if len(t.waiting) == 0 {
		return
	}
	// In the order they came to wait; a task no longer waiting is
	// skipped. A pass takes at most MaxBatch, so a scale-up of 100,000
	// tasks costs each pass its batch, not the whole queue.
	done := 0
	defer func() { t.queue = t.queue[done:] }()
	for _, id := range t.queue {
		if len(p.tasks) >= t.a.cfg.MaxBatch {
			return // the next pass goes on
		}
		done++
		task := t.waiting[id]
		if task == nil {
			continue
		}
		delete(t.waiting, id)
		atts, err := t.taskNetworks(task)
		var r *reallocation
		if err == nil {
			nets := make([]string, len(atts))
			for i, a := range atts {
				nets[i] = a.NetworkID
			}
			var pending bool
			if pending, err = t.unallocated(nets); pending && err == nil {
				t.blocked[id] = task // until the network is allocated
				continue
			}
			if err == nil {
				r, err = t.reallocate(nil, nets)
			}
		}
		if err != nil {
			t.blocked[id] = task
			msg := state.MessageWaitingForNetworks + ": " + err.Error()
			if task.Status.Message != msg {
				p.reasons = append(p.reasons, state.PendingReason{TaskID: id, Message: msg})
			}
			continue
		}
		for i := range atts {
			atts[i].Addresses = []string{t.cidr(atts[i].NetworkID, r.next[atts[i].NetworkID])}
		}
		p.tasks = append(p.tasks, state.TaskNetworks{TaskID: id, Networks: atts})
		first := atts[0].Addresses[0]
		p.changes = append(p.changes, change{
			check: func(tx state.ReadTx) bool {
				s := tx.GetTask(id)
				return s != nil && len(s.Networks) > 0 && len(s.Networks[0].Addresses) > 0 && s.Networks[0].Addresses[0] == first
			},
			commit: func() { t.taskAddrs[id] = r.next },
			abort:  func() { t.giveBack(r.taken) },
		})
	}
}

// ---------------------------------------------------------------------------
// Nodes

// nodeNetworks returns the networks a node gets a load-balancer address
// on: those its live tasks are attached to and, while a service publishes
// ingress ports, the ingress network.
func (t *term) nodeNetworks(id string) []string {
	var nets []string
	for n := range t.nodeNets[id] {
		if t.nets[n] != nil {
			nets = append(nets, n)
		}
	}
	if len(t.ingressUsers) > 0 && t.ingress != "" && t.nets[t.ingress] != nil && !slices.Contains(nets, t.ingress) {
		nets = append(nets, t.ingress)
	}
	slices.Sort(nets)
	return nets
}

func (t *term) planNodes(p *plan) {
	var failures int
	var lastErr error
	for _, id := range sortedKeys(t.dirtyNodes) {
		delete(t.dirtyNodes, id)
		n := t.nodes[id]
		if n == nil {
			continue
		}
		nets := t.nodeNetworks(id)
		if len(nets) == 0 && len(t.lbs[id]) == 0 && len(n.Attachments) == 0 {
			continue
		}
		r, err := t.reallocate(t.lbs[id], nets)
		if err != nil {
			failures++
			lastErr = err
			continue
		}
		atts := make([]model.NodeNetworkAttachment, 0, len(nets))
		for _, netID := range nets {
			atts = append(atts, model.NodeNetworkAttachment{NetworkID: netID, Address: t.cidr(netID, r.next[netID])})
		}
		if slices.Equal(atts, n.Attachments) {
			continue
		}
		p.ops = append(p.ops, state.Op{Type: state.OpAllocateNode, Node: &model.Node{ID: id, Attachments: atts}, Version: n.Version.Index})
		p.changes = append(p.changes, change{
			check: func(tx state.ReadTx) bool {
				s := tx.GetNode(id)
				return s != nil && slices.Equal(s.Attachments, atts)
			},
			commit: func() {
				t.giveBack(r.released)
				if len(r.next) > 0 {
					t.lbs[id] = r.next
				} else {
					delete(t.lbs, id)
				}
			},
			abort: func() { t.giveBack(r.taken) },
		})
	}
	if failures > 0 {
		t.note("nodes", "load-balancer addresses", fmt.Errorf("%d nodes get no load-balancer address: %w", failures, lastErr))
	}
}
