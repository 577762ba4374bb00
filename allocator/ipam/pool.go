package ipam

import (
	"fmt"
	"net/netip"
)

// The pools below are pure bookkeeping: they know nothing of the store.
// The allocator fills them from the store when it starts, then takes and
// releases as it writes. IPv4 only.

// Defaults of Docker and SwarmKit.
const (
	// DefaultAddrPool is where network subnets come from when the cluster
	// names no pool (Docker's --default-addr-pool).
	DefaultAddrPool = "10.0.0.0/8"
	// DefaultSubnetSize is the prefix length of the subnets carved from
	// the pools (Docker's --default-addr-pool-mask-length).
	DefaultSubnetSize = 24
	// IngressSubnet is the subnet of the ingress network Docker creates.
	IngressSubnet = "10.0.0.0/24"
	// MinVXLANID is the first VXLAN ID given out; SwarmKit keeps the IDs
	// below 4096 for VLAN-backed drivers.
	MinVXLANID = 4096
	// MaxVXLANID is the largest VXLAN ID (24 bits).
	MaxVXLANID = 1<<24 - 1
	// DynamicPortStart and DynamicPortEnd bound the published ports given
	// to ingress ports published without a number (Docker's range).
	DynamicPortStart = 30000
	DynamicPortEnd   = 32767
)

func ipv4(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func fromIPv4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// checkPrefix refuses what is not an IPv4 prefix, and returns it masked.
func checkPrefix(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%w: subnet %s: only IPv4 subnets are supported", ErrInvalid, p)
	}
	return p.Masked(), nil
}

// prefixRange returns the first and last address of p as numbers.
func prefixRange(p netip.Prefix) (uint64, uint64) {
	first := uint64(ipv4(p.Masked().Addr()))
	return first, first + 1<<(32-p.Bits()) - 1
}

// basePool is one address pool carved into subnets of one size.
type basePool struct {
	prefix netip.Prefix
	bits   int // prefix length of its subnets
	used   *bitmap
}

func (b *basePool) count() uint64 { return 1 << (b.bits - b.prefix.Bits()) }

func (b *basePool) subnet(i uint64) netip.Prefix {
	first, _ := prefixRange(b.prefix)
	return netip.PrefixFrom(fromIPv4(uint32(first+i<<(32-b.bits))), b.bits)
}

// overlapping returns the subnets [lo, hi) of b that overlap p, if any.
func (b *basePool) overlapping(p netip.Prefix) (lo, hi uint64, ok bool) {
	if !b.prefix.Overlaps(p) {
		return 0, 0, false
	}
	bf, _ := prefixRange(b.prefix)
	pf, pl := prefixRange(p)
	pf, pl = max(pf, bf), min(pl, bf+b.count()<<(32-b.bits)-1)
	shift := uint(32 - b.bits)
	return (pf - bf) >> shift, (pl-bf)>>shift + 1, true
}

// SubnetPool gives out network subnets from address pools, and holds
// the subnets networks were given explicitly, refusing overlaps between
// any two. Not safe for concurrent use.
type SubnetPool struct {
	bases []*basePool
	// explicit are subnets held that were not carved from a pool at its
	// subnet size (given by the user, or a pool's changed since).
	explicit map[netip.Prefix]int
}

// NewSubnetPool returns a pool that carves pools into subnets of prefix
// length size (DefaultAddrPool and DefaultSubnetSize when empty and 0).
func NewSubnetPool(pools []string, size int) (*SubnetPool, error) {
	if len(pools) == 0 {
		pools = []string{DefaultAddrPool}
	}
	if size == 0 {
		size = DefaultSubnetSize
	}
	sp := &SubnetPool{explicit: map[netip.Prefix]int{}}
	for _, s := range pools {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%w: address pool %q: %v", ErrInvalid, s, err)
		}
		if p, err = checkPrefix(p); err != nil {
			return nil, err
		}
		if size < p.Bits() || size > 29 {
			return nil, fmt.Errorf("%w: subnet size /%d does not fit address pool %s (it must be between /%d and /29)", ErrInvalid, size, p, p.Bits())
		}
		for _, b := range sp.bases {
			if b.prefix.Overlaps(p) {
				return nil, fmt.Errorf("%w: address pools %s and %s overlap", ErrInvalid, b.prefix, p)
			}
		}
		sp.bases = append(sp.bases, &basePool{prefix: p, bits: size, used: newBitmap(1 << (size - p.Bits()))})
	}
	return sp, nil
}

// Allocate takes the next free subnet of the pools.
func (sp *SubnetPool) Allocate() (netip.Prefix, error) {
	for _, b := range sp.bases {
		var blocked []uint64
		var got netip.Prefix
		for {
			i, ok := b.used.allocate(0, b.count())
			if !ok {
				break
			}
			p := b.subnet(i)
			if sp.overlapsExplicit(p) {
				blocked = append(blocked, i)
				continue
			}
			got = p
			break
		}
		for _, i := range blocked {
			b.used.clear(i)
		}
		if got.IsValid() {
			return got, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("%w: no free /%d subnet left in address pools %s", ErrExhausted, sp.bases[0].bits, sp.poolNames())
}

func (sp *SubnetPool) poolNames() string {
	s := ""
	for i, b := range sp.bases {
		if i > 0 {
			s += ","
		}
		s += b.prefix.String()
	}
	return s
}

func (sp *SubnetPool) overlapsExplicit(p netip.Prefix) bool {
	for q := range sp.explicit {
		if q.Overlaps(p) {
			return true
		}
	}
	return false
}

// home returns the base pool p is a subnet of at the pool's size, and
// its index there.
func (sp *SubnetPool) home(p netip.Prefix) (*basePool, uint64, bool) {
	for _, b := range sp.bases {
		if p.Bits() == b.bits && b.prefix.Contains(p.Addr()) {
			lo, _, _ := b.overlapping(p)
			return b, lo, true
		}
	}
	return nil, 0, false
}

// Reserve takes subnet p, given by the user or read back from the store;
// it fails with ErrOverlap if p overlaps a subnet held.
func (sp *SubnetPool) Reserve(p netip.Prefix) error {
	p, err := checkPrefix(p)
	if err != nil {
		return err
	}
	if p.Bits() > 29 {
		return fmt.Errorf("%w: subnet %s is too small: a network needs at least a /29", ErrInvalid, p)
	}
	if q, ok := sp.overlapping(p); ok {
		return fmt.Errorf("%w: subnet %s overlaps %s", ErrOverlap, p, q)
	}
	if b, i, ok := sp.home(p); ok {
		b.used.set(i)
		return nil
	}
	sp.explicit[p]++
	return nil
}

// overlapping returns a held subnet that overlaps p.
func (sp *SubnetPool) overlapping(p netip.Prefix) (netip.Prefix, bool) {
	for q := range sp.explicit {
		if q.Overlaps(p) {
			return q, true
		}
	}
	for _, b := range sp.bases {
		lo, hi, ok := b.overlapping(p)
		if !ok || b.used.used == 0 {
			continue
		}
		for j := lo; j < hi; j++ {
			if b.used.isSet(j) {
				return b.subnet(j), true
			}
		}
	}
	return netip.Prefix{}, false
}

// Release gives back subnet p.
func (sp *SubnetPool) Release(p netip.Prefix) {
	p = p.Masked()
	if sp.explicit[p] > 0 {
		if sp.explicit[p]--; sp.explicit[p] == 0 {
			delete(sp.explicit, p)
		}
		return
	}
	if b, i, ok := sp.home(p); ok {
		b.used.clear(i)
	}
}

// AddrSpace gives out the addresses of one network's subnet: never the
// subnet's own address nor its broadcast address, never the gateway, and
// only inside the range if one is given. Not safe for concurrent use.
type AddrSpace struct {
	prefix  netip.Prefix
	gateway netip.Addr
	first   uint32
	lo, hi  uint64 // allocatable host offsets [lo, hi)
	used    *bitmap
}

// MinNetworkPrefix bounds a network's subnet at a /8 (16M addresses): its
// address bitmap grows up to the highest address in use, and a gateway or
// range placed at the top of a larger user-given subnet would size it by
// a number from a request (a /1 would take 256 MiB).
const MinNetworkPrefix = 8

// NewAddrSpace returns the address space of subnet with gateway gw (the
// subnet's first address if invalid) and allocation range ipRange (the
// whole subnet if invalid).
func NewAddrSpace(subnet netip.Prefix, gw netip.Addr, ipRange netip.Prefix) (*AddrSpace, error) {
	subnet, err := checkPrefix(subnet)
	if err != nil {
		return nil, err
	}
	if subnet.Bits() > 29 {
		return nil, fmt.Errorf("%w: subnet %s is too small: a network needs at least a /29", ErrInvalid, subnet)
	}
	if subnet.Bits() < MinNetworkPrefix {
		return nil, fmt.Errorf("%w: subnet %s is too large: a network's subnet is at most a /%d", ErrInvalid, subnet, MinNetworkPrefix)
	}
	first, last := prefixRange(subnet)
	a := &AddrSpace{prefix: subnet, first: uint32(first), lo: 1, hi: last - first}
	a.used = newBitmap(last - first + 1)
	if ipRange.IsValid() {
		r, err := checkPrefix(ipRange)
		if err != nil {
			return nil, err
		}
		rf, rl := prefixRange(r)
		if rf < first || rl > last {
			return nil, fmt.Errorf("%w: IP range %s is not inside subnet %s", ErrInvalid, r, subnet)
		}
		a.lo, a.hi = max(rf-first, 1), min(rl-first+1, last-first)
	}
	if !gw.IsValid() {
		gw = fromIPv4(uint32(first + 1))
	}
	if !gw.Is4() || !subnet.Contains(gw) || uint64(ipv4(gw)) == first || uint64(ipv4(gw)) == last {
		return nil, fmt.Errorf("%w: gateway %s is not a host address of subnet %s", ErrInvalid, gw, subnet)
	}
	a.gateway = gw
	a.used.set(uint64(ipv4(gw)) - first)
	return a, nil
}

// Gateway returns the gateway address.
func (a *AddrSpace) Gateway() netip.Addr { return a.gateway }

// Prefix returns the subnet.
func (a *AddrSpace) Prefix() netip.Prefix { return a.prefix }

// Allocate takes the next free address.
func (a *AddrSpace) Allocate() (netip.Addr, error) {
	i, ok := a.used.allocate(a.lo, a.hi)
	if !ok {
		return netip.Addr{}, fmt.Errorf("%w: no free address left in subnet %s", ErrExhausted, a.prefix)
	}
	return fromIPv4(a.first + uint32(i)), nil
}

// Reserve takes address ip, read back from the store or given by the
// user.
func (a *AddrSpace) Reserve(ip netip.Addr) error {
	i, err := a.offset(ip)
	if err != nil {
		return err
	}
	if !a.used.set(i) {
		return fmt.Errorf("%w: address %s of subnet %s", ErrInUse, ip, a.prefix)
	}
	return nil
}

func (a *AddrSpace) offset(ip netip.Addr) (uint64, error) {
	if !ip.Is4() || !a.prefix.Contains(ip) {
		return 0, fmt.Errorf("%w: address %s is not in subnet %s", ErrInvalid, ip, a.prefix)
	}
	i := uint64(ipv4(ip) - a.first)
	if i == 0 || i == a.used.size-1 {
		return 0, fmt.Errorf("%w: address %s is not a host address of subnet %s", ErrInvalid, ip, a.prefix)
	}
	return i, nil
}

// Release gives back ip; the gateway is never released.
func (a *AddrSpace) Release(ip netip.Addr) {
	if ip == a.gateway {
		return
	}
	if i, err := a.offset(ip); err == nil {
		a.used.clear(i)
	}
}

// Used returns the number of addresses held, the gateway's included.
func (a *AddrSpace) Used() uint64 { return a.used.used }

// NumberPool gives out numbers of a range (VXLAN IDs, published ports)
// and holds numbers given explicitly anywhere in [0, size). Not safe for
// concurrent use.
type NumberPool struct {
	what   string
	lo, hi uint64 // the range Allocate takes from, [lo, hi]
	used   *bitmap
}

// NewVXLANPool returns the pool of VXLAN IDs.
func NewVXLANPool() *NumberPool {
	return &NumberPool{what: "VXLAN ID", lo: MinVXLANID, hi: MaxVXLANID, used: newBitmap(MaxVXLANID + 1)}
}

// NewPortPool returns the pool of ingress published ports: any port may
// be reserved, Allocate takes from the dynamic range.
func NewPortPool() *NumberPool {
	return &NumberPool{what: "published port", lo: DynamicPortStart, hi: DynamicPortEnd, used: newBitmap(65536)}
}

// Allocate takes the next free number of the range.
func (p *NumberPool) Allocate() (uint32, error) {
	i, ok := p.used.allocate(p.lo, p.hi+1)
	if !ok {
		return 0, fmt.Errorf("%w: no free %s left in %d-%d", ErrExhausted, p.what, p.lo, p.hi)
	}
	return uint32(i), nil
}

// Reserve takes n.
func (p *NumberPool) Reserve(n uint32) error {
	if uint64(n) >= p.used.size || n == 0 {
		return fmt.Errorf("%w: %s %d is out of range", ErrInvalid, p.what, n)
	}
	if !p.used.set(uint64(n)) {
		return fmt.Errorf("%w: %s %d", ErrInUse, p.what, n)
	}
	return nil
}

// Release gives back n.
func (p *NumberPool) Release(n uint32) { p.used.clear(uint64(n)) }

// Held tells whether n is taken.
func (p *NumberPool) Held(n uint32) bool { return p.used.isSet(uint64(n)) }
