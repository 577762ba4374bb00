package netdns

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/shoal-dev/shoal/dispatcher/protocol"
)

// zone is what one network's listener answers from.
type zone struct {
	// gateway is the network's gateway: where its listener binds.
	gateway netip.Addr
	// names maps a lower-case name without the trailing dot (a service
	// name, an alias, tasks.NAME) to its addresses, in view order.
	names map[string][]netip.Addr
	// ptr maps an address to the name its reverse lookup gives.
	ptr map[netip.Addr]string
	// taskAt maps a task's address on the network to the task's ID.
	taskAt map[netip.Addr]string
}

// table is a compiled network view: one zone per network, by ID.
type table struct {
	zones map[string]*zone
	// taskZones are the networks (zones) each task is on, in view
	// order: a task asking on one network also sees its other
	// networks' names.
	taskZones map[string][]string
}

// compile builds the answers of a view. Endpoints and services with
// unparsable addresses are skipped: a bad entry loses its own name only.
func compile(v *protocol.NetworkView) *table {
	t := &table{zones: map[string]*zone{}, taskZones: map[string][]string{}}
	if v == nil {
		return t
	}
	for _, ns := range v.Networks {
		if ns.Network == nil {
			continue
		}
		z := &zone{names: map[string][]netip.Addr{}, ptr: map[netip.Addr]string{}, taskAt: map[netip.Addr]string{}}
		for _, c := range ns.Network.IPAM {
			if a, err := netip.ParseAddr(c.Gateway); err == nil && a.Is4() {
				z.gateway = a
				break
			}
		}
		if !z.gateway.IsValid() {
			continue // no gateway allocated yet: nowhere to listen
		}
		// Each service's names on this network: its name and the
		// aliases its tasks carry.
		names := map[string][]string{} // service ID -> names
		addName := func(id, name string) {
			name = canonical(name)
			if name != "" && !slices.Contains(names[id], name) {
				names[id] = append(names[id], name)
			}
		}
		tasks := map[string][]netip.Addr{} // service ID -> task addresses
		for _, ep := range ns.Endpoints {
			addName(ep.ServiceID, ep.ServiceName)
			for _, a := range ep.Aliases {
				addName(ep.ServiceID, a)
			}
			for _, cidr := range ep.Addresses {
				p, err := netip.ParsePrefix(cidr)
				if err != nil {
					continue
				}
				z.ptr[p.Addr()] = canonical(ep.ServiceName) + "." + ep.TaskID
				z.taskAt[p.Addr()] = ep.TaskID
				if ep.Running {
					// Only running (healthy) tasks resolve.
					tasks[ep.ServiceID] = append(tasks[ep.ServiceID], p.Addr())
				}
			}
		}
		vips := map[string]netip.Addr{}
		for _, s := range ns.Services {
			addName(s.ServiceID, s.ServiceName)
			p, err := netip.ParsePrefix(s.Addr)
			if err != nil {
				continue
			}
			vips[s.ServiceID] = p.Addr()
			z.ptr[p.Addr()] = canonical(s.ServiceName)
		}
		for id, ns := range names {
			for _, n := range ns {
				if vip, ok := vips[id]; ok {
					z.names[n] = append(z.names[n], vip)
				} else {
					z.names[n] = append(z.names[n], tasks[id]...)
				}
				z.names["tasks."+n] = append(z.names["tasks."+n], tasks[id]...)
			}
		}
		t.zones[ns.Network.ID] = z
		for _, ep := range ns.Endpoints {
			if !slices.Contains(t.taskZones[ep.TaskID], ns.Network.ID) {
				t.taskZones[ep.TaskID] = append(t.taskZones[ep.TaskID], ns.Network.ID)
			}
		}
	}
	return t
}

// canonical is a name as the tables key it: lower case, no trailing dot.
func canonical(name string) string {
	return strings.TrimSuffix(strings.ToLower(name), ".")
}

// reverse parses a PTR question's name (d.c.b.a.in-addr.arpa.).
func reverse(name string) (netip.Addr, bool) {
	rest, ok := strings.CutSuffix(canonical(name), ".in-addr.arpa")
	if !ok {
		return netip.Addr{}, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 4 {
		return netip.Addr{}, false
	}
	slices.Reverse(parts)
	a, err := netip.ParseAddr(strings.Join(parts, "."))
	return a, err == nil && a.Is4()
}
