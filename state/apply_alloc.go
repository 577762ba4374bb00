package state

import (
	"errors"
	"net/netip"
	"slices"

	"github.com/shoal-dev/shoal/allocator/ipam"
	"github.com/shoal-dev/shoal/model"
)

// MessageWaitingForNetworks is the status message of a task that waits
// for the allocator to give it its network attachments (state NEW).
const MessageWaitingForNetworks = "waiting for network allocation"

// NeedsNetworks tells whether tasks made from spec and endpoint need
// network attachments before they may be scheduled: they name networks,
// or publish ports through the routing mesh (the ingress network).
func NeedsNetworks(spec *model.TaskSpec, endpoint *model.EndpointSpec) bool {
	return len(spec.Networks) > 0 || hasIngressPorts(endpoint)
}

func (w *writeTx) allocateNetwork(op *Op) OpResult {
	if op.Network == nil || op.Network.VNI == 0 || len(op.Network.IPAM) == 0 {
		return fail(errorf(ErrInvalid, "allocate network: no network, VXLAN ID or IPAM config"))
	}
	old := w.db.networks.get(op.Network.ID)
	if old == nil {
		return fail(errorf(ErrNotFound, "network %s not found", op.Network.ID))
	}
	if err := checkVersion(old, op.Version); err != nil {
		return fail(err)
	}
	n := old.Copy()
	n.VNI = op.Network.VNI
	n.IPAM = slices.Clone(op.Network.IPAM)
	putStatus(w, w.networks(), n, old)
	return OpResult{Applied: 1}
}

func (w *writeTx) allocateService(op *Op) OpResult {
	if op.Service == nil {
		return fail(errorf(ErrInvalid, "allocate service: no service"))
	}
	old := w.db.services.get(op.Service.ID)
	if old == nil {
		return fail(errorf(ErrNotFound, "service %s not found", op.Service.ID))
	}
	if err := checkVersion(old, op.Version); err != nil {
		return fail(err)
	}
	n := old.Copy()
	n.Endpoint = op.Service.Endpoint.Copy()
	putStatus(w, w.services(), n, old)
	return OpResult{Applied: 1}
}

func (w *writeTx) allocateNode(op *Op) OpResult {
	if op.Node == nil {
		return fail(errorf(ErrInvalid, "allocate node: no node"))
	}
	old := w.db.nodes.get(op.Node.ID)
	if old == nil {
		return fail(errorf(ErrNotFound, "node %s not found", op.Node.ID))
	}
	if err := checkVersion(old, op.Version); err != nil {
		return fail(err)
	}
	n := old.Copy()
	n.Attachments = slices.Clone(op.Node.Attachments)
	putStatus(w, w.nodes(), n, old)
	return OpResult{Applied: 1}
}

func (w *writeTx) allocateTasks(op *Op) OpResult {
	var r OpResult
	var p path[model.Task]
	for _, tn := range op.TaskNetworks {
		t := w.db.tasks.find(tn.TaskID, &p)
		if t == nil || t.Status.State != model.TaskStateNew || t.DesiredState > model.TaskStateRunning || len(t.Networks) > 0 {
			continue
		}
		n := shallowCopy(t)
		n.Networks = slices.Clone(tn.Networks)
		n.Status = model.TaskStatus{Timestamp: w.now, State: model.TaskStatePending, Message: "pending task scheduling"}
		putAt(w, w.tasks(), &p, n, t)
		r.Applied++
	}
	return r
}

// checkNetworkSubnet refuses at once a network whose subnet cannot be
// had: an explicit subnet that overlaps another network's, or no subnet
// left in the cluster's address pools, counting what the store's networks
// hold or will hold (allocated, explicit, or to come from the pools). The
// allocator gives the subnets out and checks again, but it answers no
// one; this answers the API's create.
func (w *writeTx) checkNetworkSubnet(n *model.Network) *Error {
	var pools []string
	size := 0
	if c := w.db.clusters.first(); c != nil {
		pools, size = c.Spec.AddrPool(), int(c.Spec.Subnet())
	}
	sp, err := ipam.NewSubnetPool(pools, size)
	if err != nil {
		return nil // the API refuses such pools; the allocator reports it
	}
	type held struct {
		name   string
		prefix netip.Prefix
	}
	var holds []held
	fromPool := 0
	_ = w.db.networks.scan(query{all: true}, func(o *model.Network) bool {
		subnet := ""
		switch {
		case len(o.IPAM) > 0:
			subnet = o.IPAM[0].Subnet
		case o.Spec.IPAM != nil && len(o.Spec.IPAM.Configs) > 0:
			subnet = o.Spec.IPAM.Configs[0].Subnet
		}
		if subnet == "" {
			fromPool++
			return true
		}
		if p, err := netip.ParsePrefix(subnet); err == nil && sp.Reserve(p) == nil {
			holds = append(holds, held{o.Spec.Name, p.Masked()})
		}
		return true
	})
	want := ""
	if n.Spec.IPAM != nil && len(n.Spec.IPAM.Configs) > 0 {
		want = n.Spec.IPAM.Configs[0].Subnet
	}
	if want != "" {
		p, err := netip.ParsePrefix(want)
		if err != nil {
			return errorf(ErrInvalid, "network %s: subnet %q: %v", n.Spec.Name, want, err)
		}
		if err := sp.Reserve(p); err != nil {
			if errors.Is(err, ipam.ErrOverlap) {
				for _, h := range holds {
					if h.prefix.Overlaps(p) {
						return errorf(ErrConflict, "network %s: subnet %s overlaps subnet %s of network %s", n.Spec.Name, p, h.prefix, h.name)
					}
				}
			}
			return errorf(ErrInvalid, "network %s: %v", n.Spec.Name, err)
		}
		for range fromPool {
			if _, err := sp.Allocate(); err != nil {
				return errorf(ErrConflict, "network %s: subnet %s would leave no subnet in the cluster's address pool for the %d networks waiting for one", n.Spec.Name, p, fromPool)
			}
		}
		return nil
	}
	for range fromPool + 1 {
		if _, err := sp.Allocate(); err != nil {
			return errorf(ErrConflict, "network %s: %v (networks hold every subnet of the cluster's address pool)", n.Spec.Name, err)
		}
	}
	return nil
}
