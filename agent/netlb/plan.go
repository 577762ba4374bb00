package netlb

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/model"
)

// Plan is what the node's load balancer must look like.
type Plan struct {
	// Networks are the networks this node has a load-balancer address
	// on, by ID order.
	Networks []NetworkPlan
	// Ports are the ingress-published ports, by port order.
	Ports []PortPlan
}

// NetworkPlan is one network's part of a plan.
type NetworkPlan struct {
	ID string
	// Bridge is the network's Linux bridge on this node.
	Bridge string
	// LB is this node's load-balancer address on the network.
	LB netip.Addr
	// VIPs are the services' virtual IPs on it, by address.
	VIPs []VIPPlan
}

// VIPPlan is one service's virtual IP on a network.
type VIPPlan struct {
	ServiceID, ServiceName string
	VIP                    netip.Addr
	// Backends are the service's task addresses on the network.
	Backends []netip.Addr
}

// PortPlan is one ingress-published port.
type PortPlan struct {
	ServiceID string
	// Protocol is "tcp", "udp" or "sctp".
	Protocol  string
	Published uint16
	Target    uint16
	// Bridge and LB are the ingress network's bridge and this node's
	// load-balancer address on it.
	Bridge string
	LB     netip.Addr
	// Backends are the service's task addresses on the ingress network.
	Backends []netip.Addr
}

// Empty tells whether the plan balances nothing: no VIP, no port.
func (p Plan) Empty() bool {
	for _, n := range p.Networks {
		if len(n.VIPs) > 0 {
			return false
		}
	}
	return len(p.Ports) == 0
}

// PlanOf derives the plan of a network view. bridge names a network's
// bridge (netplane.BridgeName). Networks on which the node has no
// load-balancer address are left out: nothing could be SNATed there.
func PlanOf(v *protocol.NetworkView, bridge func(networkID string) string) Plan {
	var p Plan
	if v == nil {
		return p
	}
	for _, ns := range v.Networks {
		if ns.Network == nil {
			continue
		}
		lb, err := netip.ParsePrefix(ns.LBAddress)
		if err != nil || !lb.Addr().Is4() {
			continue
		}
		np := NetworkPlan{ID: ns.Network.ID, Bridge: bridge(ns.Network.ID), LB: lb.Addr()}
		backends := map[string][]netip.Addr{}
		for _, ep := range ns.Endpoints {
			if !ep.Running {
				continue // starting, or not healthy yet: no connection
			}
			for _, a := range ep.Addresses {
				if pfx, err := netip.ParsePrefix(a); err == nil && pfx.Addr().Is4() {
					backends[ep.ServiceID] = append(backends[ep.ServiceID], pfx.Addr())
				}
			}
		}
		for id := range backends {
			slices.SortFunc(backends[id], netip.Addr.Compare)
			backends[id] = slices.Compact(backends[id])
		}
		for _, s := range ns.Services {
			vip, err := netip.ParsePrefix(s.Addr)
			if err != nil || !vip.Addr().Is4() {
				continue
			}
			np.VIPs = append(np.VIPs, VIPPlan{ServiceID: s.ServiceID, ServiceName: s.ServiceName, VIP: vip.Addr(), Backends: backends[s.ServiceID]})
			if !ns.Network.Spec.Ingress {
				continue
			}
			for _, port := range s.Ports {
				if port.PublishMode != "" && port.PublishMode != model.PublishModeIngress || port.PublishedPort == 0 {
					continue
				}
				proto := strings.ToLower(string(port.Protocol))
				if proto == "" {
					proto = "tcp"
				}
				p.Ports = append(p.Ports, PortPlan{
					ServiceID: s.ServiceID, Protocol: proto, Published: uint16(port.PublishedPort), Target: uint16(port.TargetPort),
					Bridge: np.Bridge, LB: np.LB, Backends: backends[s.ServiceID],
				})
			}
		}
		slices.SortFunc(np.VIPs, func(a, b VIPPlan) int { return a.VIP.Compare(b.VIP) })
		p.Networks = append(p.Networks, np)
	}
	slices.SortFunc(p.Networks, func(a, b NetworkPlan) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(p.Ports, func(a, b PortPlan) int {
		return cmp.Or(cmp.Compare(a.Published, b.Published), cmp.Compare(a.Protocol, b.Protocol))
	})
	return p
}

// Chain names: ours all start with "SHOAL-"; iptables allows 28
// characters.
const (
	ChainVIP     = "SHOAL-VIP"
	ChainIngress = "SHOAL-INGRESS"
	ChainPost    = "SHOAL-POST"
	ChainForward = "SHOAL-FORWARD"
	// prefixes of the per-service and per-port chains.
	prefixService = "SHOAL-S-"
	prefixPort    = "SHOAL-P-"
)

func chainOf(prefix string, parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "/")))
	return prefix + strings.ToUpper(hex.EncodeToString(h[:8]))
}

// Rules returns the iptables-restore input that makes the nat and filter
// tables' chains match the plan. existing are the chains of ours that
// exist now (any table): the per-service and per-port ones the plan no
// longer has are deleted.
func (p Plan) Rules(existing []string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	var chains []string
	var body []string
	add := func(format string, args ...any) { body = append(body, fmt.Sprintf(format, args...)) }
	for _, n := range p.Networks {
		for _, v := range n.VIPs {
			if len(v.Backends) == 0 {
				continue // the VIP stays a local address: refused
			}
			c := chainOf(prefixService, n.ID, v.ServiceID)
			chains = append(chains, c)
			add("-A %s -d %s/32 -m comment --comment %s -j %s", ChainVIP, v.VIP, quote(v.ServiceName), c)
			cascade(add, c, v.Backends, "", 0)
			add("-A %s -m conntrack --ctstate DNAT --ctorigdst %s/32 -j SNAT --to-source %s", ChainPost, v.VIP, n.LB)
		}
	}
	for _, pp := range p.Ports {
		if len(pp.Backends) == 0 {
			continue
		}
		c := chainOf(prefixPort, pp.Protocol, strconv.Itoa(int(pp.Published)))
		chains = append(chains, c)
		add("-A %s -p %s --dport %d -m addrtype --dst-type LOCAL -j %s", ChainIngress, pp.Protocol, pp.Published, c)
		cascade(add, c, pp.Backends, pp.Protocol, pp.Target)
		add("-A %s -o %s -p %s -m conntrack --ctstate DNAT --ctorigdstport %d -j SNAT --to-source %s", ChainPost, pp.Bridge, pp.Protocol, pp.Published, pp.LB)
	}

	w("*nat")
	for _, c := range []string{ChainVIP, ChainIngress, ChainPost} {
		w(":%s - [0:0]", c)
	}
	for _, c := range chains {
		w(":%s - [0:0]", c)
	}
	stale := staleChains(existing, chains)
	for _, c := range stale {
		w(":%s - [0:0]", c)
	}
	for _, l := range body {
		w("%s", l)
	}
	for _, c := range stale {
		w("-X %s", c)
	}
	w("COMMIT")

	w("*filter")
	w(":%s - [0:0]", ChainForward)
	for _, n := range p.Networks {
		for _, v := range n.VIPs {
			if len(v.Backends) > 0 {
				w("-A %s -m conntrack --ctstate DNAT --ctorigdst %s/32 -j ACCEPT", ChainForward, v.VIP)
			}
		}
	}
	for _, pp := range p.Ports {
		if len(pp.Backends) > 0 {
			w("-A %s -o %s -p %s -m conntrack --ctstate DNAT --ctorigdstport %d -j ACCEPT", ChainForward, pp.Bridge, pp.Protocol, pp.Published)
			w("-A %s -i %s -p %s -m conntrack --ctstate DNAT --ctorigdstport %d -j ACCEPT", ChainForward, pp.Bridge, pp.Protocol, pp.Published)
		}
	}
	w("COMMIT")
	return b.String()
}

// cascade writes the DNAT rules that pick one of backends uniformly:
// rule i of n matches with probability 1/(n-i), the last always. A
// target port of 0 keeps the destination port (every port of a VIP);
// another needs the protocol (iptables maps ports of TCP, UDP and SCTP).
func cascade(add func(string, ...any), chain string, backends []netip.Addr, proto string, target uint16) {
	n := len(backends)
	if proto != "" {
		chain += " -p " + proto
	}
	for i, be := range backends {
		to := be.String()
		if target != 0 {
			to += ":" + strconv.Itoa(int(target))
		}
		if i == n-1 {
			add("-A %s -j DNAT --to-destination %s", chain, to)
			continue
		}
		add("-A %s -m statistic --mode random --probability %.11f -j DNAT --to-destination %s", chain, 1/float64(n-i), to)
	}
}

// staleChains are the per-service and per-port chains in existing that
// want does not have.
func staleChains(existing, want []string) []string {
	var out []string
	for _, c := range existing {
		if (strings.HasPrefix(c, prefixService) || strings.HasPrefix(c, prefixPort)) && !slices.Contains(want, c) && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// quote makes a comment one iptables-restore word.
func quote(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < ' ' {
			return '_'
		}
		return r
	}, s)
	return `"` + s + `"`
}
