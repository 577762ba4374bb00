package netplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
)

// VXLANPort is the IANA VXLAN port, Docker's overlay port too.
const VXLANPort = 4789

// VXLANOverhead is what VXLAN adds to a frame: outer IPv4 (20), UDP (8),
// VXLAN (8) and inner Ethernet (14) headers. An overlay's MTU is the
// underlay's minus this.
const VXLANOverhead = 50

// vxlanSpec is the VXLAN device of one network on this host.
type vxlanSpec struct {
	// Name is the device name (at most 15 bytes).
	Name string
	VNI  uint32
	// Local is this host's underlay address: the source of the tunnel.
	Local netip.Addr
	MTU   int
	// Bridge is the Linux bridge of the network's Docker network: the
	// device is enslaved to it.
	Bridge string
}

// Remote is a remote endpoint: the container address on the overlay, and
// the underlay address of the host it runs on.
type Remote struct {
	IP   netip.Addr
	Host netip.Addr
}

// MAC is the address Docker 20.10 gives a container on a bridge network:
// 02:42 followed by its IPv4 address. Static neighbour entries use it, so
// no ARP crosses the tunnel.
func MAC(ip netip.Addr) net.HardwareAddr {
	b := ip.As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
}

// ensureVXLAN makes the device if it is missing or differs from spec
// (VNI, local address, port, learning, proxy), enslaves it to the bridge,
// sets its MTU and brings it up. It is idempotent.
func ensureVXLAN(h *netlink.Handle, s vxlanSpec) error {
	br, err := h.LinkByName(s.Bridge)
	if err != nil {
		return fmt.Errorf("netplane: bridge %s: %w", s.Bridge, err)
	}
	l, err := h.LinkByName(s.Name)
	if err == nil {
		vx, ok := l.(*netlink.Vxlan)
		if !ok || vx.VxlanId != int(s.VNI) || !vx.SrcAddr.Equal(net.IP(s.Local.AsSlice())) ||
			vx.Port != VXLANPort || vx.Learning || !vx.Proxy {
			if err := h.LinkDel(l); err != nil {
				return fmt.Errorf("netplane: replace %s: %w", s.Name, err)
			}
			l = nil
		}
	} else if !isNotFound(err) {
		return fmt.Errorf("netplane: %s: %w", s.Name, err)
	} else {
		l = nil
	}
	if l == nil {
		vx := &netlink.Vxlan{
			LinkAttrs: netlink.LinkAttrs{Name: s.Name, MTU: s.MTU},
			VxlanId:   int(s.VNI),
			SrcAddr:   net.IP(s.Local.AsSlice()),
			Port:      VXLANPort,
			Learning:  false,
			Proxy:     true,
			L2miss:    false,
			L3miss:    false,
		}
		if err := h.LinkAdd(vx); err != nil {
			return fmt.Errorf("netplane: add vxlan %s (VNI %d): %w", s.Name, s.VNI, err)
		}
		if l, err = h.LinkByName(s.Name); err != nil {
			return fmt.Errorf("netplane: %s after add: %w", s.Name, err)
		}
	}
	a := l.Attrs()
	if a.MTU != s.MTU {
		if err := h.LinkSetMTU(l, s.MTU); err != nil {
			return fmt.Errorf("netplane: mtu of %s: %w", s.Name, err)
		}
	}
	if a.MasterIndex != br.Attrs().Index {
		if err := h.LinkSetMaster(l, br); err != nil {
			return fmt.Errorf("netplane: enslave %s to %s: %w", s.Name, s.Bridge, err)
		}
	}
	if a.Flags&net.FlagUp == 0 {
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("netplane: up %s: %w", s.Name, err)
		}
	}
	return nil
}

// removeLink deletes a device; one already gone is no error.
func removeLink(h *netlink.Handle, name string) error {
	l, err := h.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("netplane: %s: %w", name, err)
	}
	if err := h.LinkDel(l); err != nil && !isNotFound(err) {
		return fmt.Errorf("netplane: delete %s: %w", name, err)
	}
	return nil
}

// peerDiff is what syncPeers changed.
type peerDiff struct {
	Added, Removed int
}

// syncPeers makes the device's static neighbour (IP -> MAC) and forwarding
// (MAC -> remote host) entries exactly want: it adds or fixes the missing
// and wrong ones and removes the stale ones (a remote endpoint gone, or
// moved to another host). Entries the kernel made itself (the device's own
// address, permanent entries without a destination) are left alone.
func syncPeers(h *netlink.Handle, dev string, want []Remote) (peerDiff, error) {
	var d peerDiff
	l, err := h.LinkByName(dev)
	if err != nil {
		return d, fmt.Errorf("netplane: %s: %w", dev, err)
	}
	idx := l.Attrs().Index
	wantByMAC := make(map[string]Remote, len(want))
	wantByIP := make(map[netip.Addr]Remote, len(want))
	for _, r := range want {
		wantByMAC[MAC(r.IP).String()] = r
		wantByIP[r.IP] = r
	}

	// Forwarding entries: MAC -> remote host.
	fdb, err := h.NeighList(idx, syscall.AF_BRIDGE)
	if err != nil {
		return d, fmt.Errorf("netplane: fdb of %s: %w", dev, err)
	}
	haveFDB := map[string]bool{}
	for _, n := range fdb {
		if n.IP == nil || n.HardwareAddr == nil {
			continue
		}
		mac := n.HardwareAddr.String()
		r, ok := wantByMAC[mac]
		if ok && n.IP.Equal(net.IP(r.Host.AsSlice())) && !haveFDB[mac] {
			haveFDB[mac] = true
			continue
		}
		if err := h.NeighDel(&n); err != nil && !isNotFound(err) {
			return d, fmt.Errorf("netplane: remove fdb %s -> %s on %s: %w", mac, n.IP, dev, err)
		}
		d.Removed++
	}
	for mac, r := range wantByMAC {
		if haveFDB[mac] {
			continue
		}
		n := &netlink.Neigh{
			LinkIndex:    idx,
			Family:       syscall.AF_BRIDGE,
			State:        netlink.NUD_PERMANENT,
			Flags:        netlink.NTF_SELF,
			IP:           net.IP(r.Host.AsSlice()),
			HardwareAddr: MAC(r.IP),
		}
		if err := h.NeighSet(n); err != nil {
			return d, fmt.Errorf("netplane: add fdb %s -> %s on %s: %w", mac, r.Host, dev, err)
		}
		d.Added++
	}

	// Neighbour entries: IP -> MAC, answered by the device's ARP proxy.
	neigh, err := h.NeighList(idx, nl.FAMILY_V4)
	if err != nil {
		return d, fmt.Errorf("netplane: neighbours of %s: %w", dev, err)
	}
	haveNeigh := map[netip.Addr]bool{}
	for _, n := range neigh {
		ip, ok := netip.AddrFromSlice(n.IP.To4())
		if !ok {
			continue
		}
		r, want := wantByIP[ip]
		if want && n.State&netlink.NUD_PERMANENT != 0 && n.HardwareAddr.String() == MAC(r.IP).String() {
			haveNeigh[ip] = true
			continue
		}
		if err := h.NeighDel(&n); err != nil && !isNotFound(err) {
			return d, fmt.Errorf("netplane: remove neighbour %s on %s: %w", ip, dev, err)
		}
		if want || n.State&netlink.NUD_PERMANENT != 0 {
			d.Removed++
		}
	}
	for ip, r := range wantByIP {
		if haveNeigh[ip] {
			continue
		}
		n := &netlink.Neigh{
			LinkIndex:    idx,
			Family:       nl.FAMILY_V4,
			State:        netlink.NUD_PERMANENT,
			IP:           net.IP(r.IP.AsSlice()),
			HardwareAddr: MAC(r.IP),
		}
		if err := h.NeighSet(n); err != nil {
			return d, fmt.Errorf("netplane: add neighbour %s on %s: %w", ip, dev, err)
		}
		d.Added++
	}
	return d, nil
}

func isNotFound(err error) bool {
	var lnf netlink.LinkNotFoundError
	return errors.As(err, &lnf) || errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENODEV)
}
