package netplane

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/vishvananda/netlink"

	"github.com/shoal-dev/shoal/model"
)

// ErrSubnetHeld says that a network's subnet is held on the engine by a
// Docker network the plane may not remove. The error wrapping it names
// that network and why it stays.
var ErrSubnetHeld = errors.New("netplane: the subnet is held by another docker network")

// clearStale makes room on the engine for n's subnets. Docker refuses a
// bridge network whose subnet overlaps another one's ("Pool overlaps with
// other one on this address space"), and a node killed with SIGKILL leaves
// its Docker networks behind: the next cluster on the engine, with new
// network IDs and the same default subnets, could never make its own.
//
// So before n's Docker network is made, every Docker network of ours (with
// LabelNetworkID) whose subnet overlaps one of n's is removed, with its
// VXLAN device, if its shoal network is not in this node's view, no
// container is attached to it, and it is older than RemoveGrace (another
// agent of the engine may have just made it for a task it is about to
// start). A network without our label is never touched. It returns an
// error wrapping ErrSubnetHeld, naming the networks it had to keep and
// why, if any overlap remains among ours.
func (p *Plane) clearStale(ctx context.Context, n *model.Network) error {
	want := subnets(n.IPAM)
	if len(want) == 0 {
		return nil
	}
	list, err := p.cfg.Docker.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelNetworkID))})
	if err != nil {
		return fmt.Errorf("netplane: list docker networks: %w", err)
	}
	p.mu.Lock()
	inView := func(id string) bool { _, ok := p.view[id]; return ok }
	var candidates []network.Summary
	for _, s := range list {
		id := s.Labels[LabelNetworkID]
		if id == n.ID || inView(id) || !overlaps(subnetsOf(s), want) {
			continue
		}
		candidates = append(candidates, s)
	}
	p.mu.Unlock()

	var held []string
	for _, s := range candidates {
		id := s.Labels[LabelNetworkID]
		what := fmt.Sprintf("docker network %s (shoal network %s %q, subnet %s, not in this node's view)",
			s.Name, id, s.Labels[LabelNetworkName], strings.Join(subnetStrings(s), ","))
		// The list does not say which containers are attached.
		got, err := p.cfg.Docker.NetworkInspect(ctx, s.ID, network.InspectOptions{})
		switch {
		case cerrdefs.IsNotFound(err):
			continue
		case err != nil:
			held = append(held, fmt.Sprintf("%s: inspect: %v", what, err))
			continue
		case len(got.Containers) > 0:
			held = append(held, fmt.Sprintf("%s has %d container(s) attached (%s): stop them, then the plane removes it",
				what, len(got.Containers), strings.Join(containerNames(got), ", ")))
			continue
		}
		if age := time.Since(s.Created); age < p.cfg.RemoveGrace {
			held = append(held, fmt.Sprintf("%s was made %s ago: another agent of this engine may be about to use it; removed once it is %s old if still unused",
				what, age.Round(time.Second), p.cfg.RemoveGrace))
			continue
		}
		if err := p.cfg.Docker.NetworkRemove(ctx, s.ID); err != nil && !cerrdefs.IsNotFound(err) {
			// A container attached since the inspect.
			held = append(held, fmt.Sprintf("%s: remove: %v", what, err))
			continue
		}
		// Its device would keep the VNI, which the new network may reuse.
		if err := removeLink(&netlink.Handle{}, vxlanName(id)); err != nil {
			p.log.Warn("stale VXLAN device left", "network", id, "device", vxlanName(id), "err", err)
		}
		p.log.Info("stale docker network removed: its subnet is needed", "network", id,
			"name", s.Labels[LabelNetworkName], "docker_network", s.Name, "subnet", strings.Join(subnetStrings(s), ","),
			"vni", s.Labels[LabelVNI], "device", vxlanName(id), "created", s.Created, "for_network", n.ID)
	}
	if len(held) > 0 {
		return fmt.Errorf("%w: %s", ErrSubnetHeld, strings.Join(held, "; "))
	}
	return nil
}

// overlapping names the Docker networks of any kind whose subnet overlaps
// n's, for an error that says why Docker refused to make n's.
func (p *Plane) overlapping(ctx context.Context, n *model.Network) string {
	list, err := p.cfg.Docker.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return ""
	}
	want := subnets(n.IPAM)
	var names []string
	for _, s := range list {
		if overlaps(subnetsOf(s), want) {
			names = append(names, fmt.Sprintf("%s (subnet %s)", s.Name, strings.Join(subnetStrings(s), ",")))
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// subnets are a shoal network's subnets.
func subnets(cfgs []model.IPAMConfig) []netip.Prefix {
	ss := make([]string, 0, len(cfgs))
	for _, c := range cfgs {
		ss = append(ss, c.Subnet)
	}
	return prefixes(ss)
}

// subnetsOf are a Docker network's subnets.
func subnetsOf(s network.Summary) []netip.Prefix { return prefixes(subnetStrings(s)) }

func subnetStrings(s network.Summary) []string {
	out := make([]string, 0, len(s.IPAM.Config))
	for _, c := range s.IPAM.Config {
		out = append(out, c.Subnet)
	}
	return out
}

func prefixes(ss []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		if pfx, err := netip.ParsePrefix(s); err == nil {
			out = append(out, pfx.Masked())
		}
	}
	return out
}

func overlaps(a, b []netip.Prefix) bool {
	return slices.ContainsFunc(a, func(x netip.Prefix) bool {
		return slices.ContainsFunc(b, x.Overlaps)
	})
}

func containerNames(n network.Inspect) []string {
	out := make([]string, 0, len(n.Containers))
	for id, ep := range n.Containers {
		name := ep.Name
		if name == "" {
			name = short(id)
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
