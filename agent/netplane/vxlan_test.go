package netplane

import (
	"net/netip"
	"os"
	"runtime"
	"slices"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
)

// throwawayNetns returns a netlink handle in a new network namespace that
// disappears with the test. It needs root.
func throwawayNetns(t *testing.T) *netlink.Handle {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("netplane: needs root (a network namespace, VXLAN devices)")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := netns.Set(orig); err != nil {
		t.Fatal(err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(); ns.Close() })
	// An underlay address for the tunnel's source, and a bridge.
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	// No dummy driver on this kernel: a veth pair is the underlay.
	dummy := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "under0"}, PeerName: "under1"}
	if err := h.LinkAdd(dummy); err != nil {
		t.Fatal(err)
	}
	addr, _ := netlink.ParseAddr("192.0.2.1/24")
	if err := h.AddrAdd(dummy, addr); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(dummy); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0", MTU: 1350}}); err != nil {
		t.Fatal(err)
	}
	return h
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

type entries struct {
	fdb   []string // "MAC HOST"
	neigh []string // "IP MAC"
}

func readEntries(t *testing.T, h *netlink.Handle, dev string) entries {
	t.Helper()
	l, err := h.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	var e entries
	fdb, err := h.NeighList(l.Attrs().Index, syscall.AF_BRIDGE)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range fdb {
		if n.IP != nil {
			e.fdb = append(e.fdb, n.HardwareAddr.String()+" "+n.IP.String())
		}
	}
	ns, err := h.NeighList(l.Attrs().Index, nl.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		e.neigh = append(e.neigh, n.IP.String()+" "+n.HardwareAddr.String())
	}
	slices.Sort(e.fdb)
	slices.Sort(e.neigh)
	return e
}

// TestSyncPeersFollowsTheView: the device's entries are exactly the remote
// endpoints of the last view, through adds, moves and removals, and a
// second pass with the same view changes nothing.
func TestSyncPeersFollowsTheView(t *testing.T) {
	h := throwawayNetns(t)
	spec := vxlanSpec{Name: "vx0", VNI: 4097, Local: ip("192.0.2.1"), MTU: 1350, Bridge: "br0"}
	if err := ensureVXLAN(h, spec); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		name      string
		want      []Remote
		added     int
		removed   int
		fdb       []string
		neighbour []string
	}{
		{"two remotes", []Remote{{ip("10.0.1.3"), ip("192.0.2.2")}, {ip("10.0.1.4"), ip("192.0.2.3")}}, 4, 0,
			[]string{"02:42:0a:00:01:03 192.0.2.2", "02:42:0a:00:01:04 192.0.2.3"},
			[]string{"10.0.1.3 02:42:0a:00:01:03", "10.0.1.4 02:42:0a:00:01:04"}},
		{"same again", []Remote{{ip("10.0.1.3"), ip("192.0.2.2")}, {ip("10.0.1.4"), ip("192.0.2.3")}}, 0, 0,
			[]string{"02:42:0a:00:01:03 192.0.2.2", "02:42:0a:00:01:04 192.0.2.3"},
			[]string{"10.0.1.3 02:42:0a:00:01:03", "10.0.1.4 02:42:0a:00:01:04"}},
		{"one gone, one moved host", []Remote{{ip("10.0.1.4"), ip("192.0.2.9")}}, 1, 3,
			[]string{"02:42:0a:00:01:04 192.0.2.9"},
			[]string{"10.0.1.4 02:42:0a:00:01:04"}},
		{"none", nil, 0, 2, nil, nil},
	} {
		d, err := syncPeers(h, "vx0", step.want)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if d.Added != step.added || d.Removed != step.removed {
			t.Errorf("%s: added %d removed %d, want %d and %d", step.name, d.Added, d.Removed, step.added, step.removed)
		}
		got := readEntries(t, h, "vx0")
		if !slices.Equal(got.fdb, step.fdb) || !slices.Equal(got.neigh, step.neighbour) {
			t.Errorf("%s: fdb %q neigh %q, want %q and %q", step.name, got.fdb, got.neigh, step.fdb, step.neighbour)
		}
	}
}

// TestEnsureVXLANRepairs: the device is made once, enslaved and up; a
// device with another VNI (a network recreated) is replaced; one that lost
// its bridge (Docker recreated it) is enslaved again.
func TestEnsureVXLANRepairs(t *testing.T) {
	h := throwawayNetns(t)
	spec := vxlanSpec{Name: "vx0", VNI: 4097, Local: ip("192.0.2.1"), MTU: 1350, Bridge: "br0"}
	check := func(what string, vni int) {
		t.Helper()
		l, err := h.LinkByName("vx0")
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		vx := l.(*netlink.Vxlan)
		br, _ := h.LinkByName("br0")
		if vx.VxlanId != vni || vx.Learning || !vx.Proxy || vx.Port != VXLANPort || vx.MTU != 1350 ||
			vx.MasterIndex != br.Attrs().Index || vx.OperState == netlink.OperDown && vx.Flags&(1) == 0 {
			t.Fatalf("%s: vxlan %+v", what, vx)
		}
	}
	if err := ensureVXLAN(h, spec); err != nil {
		t.Fatal(err)
	}
	check("made", 4097)
	if err := ensureVXLAN(h, spec); err != nil {
		t.Fatal(err)
	}
	check("again", 4097)
	spec.VNI = 4100
	if err := ensureVXLAN(h, spec); err != nil {
		t.Fatal(err)
	}
	check("new VNI", 4100)
	// The bridge deleted and made again, as Docker does on a restart.
	br, _ := h.LinkByName("br0")
	if err := h.LinkDel(br); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0", MTU: 1350}}); err != nil {
		t.Fatal(err)
	}
	if err := ensureVXLAN(h, spec); err != nil {
		t.Fatal(err)
	}
	check("bridge recreated", 4100)
	if err := removeLink(h, "vx0"); err != nil {
		t.Fatal(err)
	}
	if err := removeLink(h, "vx0"); err != nil {
		t.Fatalf("removing twice: %v", err)
	}
}
