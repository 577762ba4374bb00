package ipam

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// The pools are checked against a naive reference: a set of what is held.
// A program of bytes drives them: each step allocates, reserves a given
// value or releases one held, and after each step the pool and the
// reference must agree on what is held, and no value may be given out
// while held.

func runAddrProgram(t *testing.T, prog []byte) {
	a, err := NewAddrSpace(pfx("10.3.0.0/27"), netip.Addr{}, netip.Prefix{})
	if err != nil {
		t.Fatal(err)
	}
	held := map[netip.Addr]bool{a.Gateway(): true}
	var order []netip.Addr
	for i := 0; i+1 < len(prog); i += 2 {
		op, arg := prog[i]%3, prog[i+1]
		switch op {
		case 0:
			ip, err := a.Allocate()
			if err != nil {
				if len(held) < 30 { // 32 - network - broadcast
					t.Fatalf("step %d: exhausted with %d held: %v", i, len(held), err)
				}
				continue
			}
			if held[ip] {
				t.Fatalf("step %d: %s given out twice", i, ip)
			}
			held[ip] = true
			order = append(order, ip)
		case 1:
			ip := fromIPv4(ipv4(addr("10.3.0.0")) + uint32(arg%32))
			err := a.Reserve(ip)
			okRef := !held[ip] && arg%32 != 0 && arg%32 != 31
			if (err == nil) != okRef {
				t.Fatalf("step %d: Reserve(%s) = %v, reference says %v", i, ip, err, okRef)
			}
			if err == nil {
				held[ip] = true
				order = append(order, ip)
			}
		case 2:
			if len(order) == 0 {
				continue
			}
			j := int(arg) % len(order)
			ip := order[j]
			order = append(order[:j], order[j+1:]...)
			a.Release(ip)
			delete(held, ip)
		}
		if a.Used() != uint64(len(held)) {
			t.Fatalf("step %d: pool holds %d, reference %d", i, a.Used(), len(held))
		}
	}
}

func runSubnetProgram(t *testing.T, prog []byte) {
	sp, err := NewSubnetPool([]string{"10.8.0.0/21"}, 24)
	if err != nil {
		t.Fatal(err)
	}
	var held []netip.Prefix
	overlaps := func(p netip.Prefix) bool {
		for _, q := range held {
			if q.Overlaps(p) {
				return true
			}
		}
		return false
	}
	for i := 0; i+1 < len(prog); i += 2 {
		op, arg := prog[i]%3, prog[i+1]
		switch op {
		case 0:
			p, err := sp.Allocate()
			if err != nil {
				continue
			}
			if overlaps(p) {
				t.Fatalf("step %d: allocated %s overlaps a held subnet %v", i, p, held)
			}
			held = append(held, p)
		case 1:
			// A /23, /24 or /25 somewhere in 10.8.0.0/20 (half in the pool).
			bits := 23 + int(arg%3)
			base := ipv4(addr("10.8.0.0")) + uint32(arg>>2)<<(32-bits)
			p := netip.PrefixFrom(fromIPv4(base), bits).Masked()
			err := sp.Reserve(p)
			if (err == nil) == overlaps(p) {
				t.Fatalf("step %d: Reserve(%s) = %v with held %v", i, p, err, held)
			}
			if err == nil {
				held = append(held, p)
			}
		case 2:
			if len(held) == 0 {
				continue
			}
			j := int(arg) % len(held)
			sp.Release(held[j])
			held = append(held[:j], held[j+1:]...)
		}
	}
}

func runPortProgram(t *testing.T, prog []byte) {
	p := &NumberPool{what: "port", lo: 100, hi: 131, used: newBitmap(200)}
	held := map[uint32]bool{}
	var order []uint32
	for i := 0; i+1 < len(prog); i += 2 {
		op, arg := prog[i]%3, uint32(prog[i+1])
		switch op {
		case 0:
			n, err := p.Allocate()
			if err != nil {
				continue
			}
			if held[n] || n < 100 || n > 131 {
				t.Fatalf("step %d: allocated %d (held %v)", i, n, held[n])
			}
			held[n] = true
			order = append(order, n)
		case 1:
			err := p.Reserve(arg)
			if (err == nil) != (!held[arg] && arg != 0 && arg < 200) {
				t.Fatalf("step %d: Reserve(%d) = %v", i, arg, err)
			}
			if err == nil {
				held[arg] = true
				order = append(order, arg)
			}
		case 2:
			if len(order) == 0 {
				continue
			}
			j := int(arg) % len(order)
			p.Release(order[j])
			delete(held, order[j])
			order = append(order[:j], order[j+1:]...)
		}
	}
}

func FuzzPoolsNeverDoubleAllocate(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 2, 0, 0, 0, 1, 5, 1, 5})
	f.Add([]byte{1, 1, 1, 2, 0, 0, 0, 0, 2, 1, 1, 1})
	f.Fuzz(func(t *testing.T, prog []byte) {
		runAddrProgram(t, prog)
		runSubnetProgram(t, prog)
		runPortProgram(t, prog)
	})
}

// TestPoolsNeverDoubleAllocate runs random programs on every test run, so
// the property is checked without -fuzz too.
func TestPoolsNeverDoubleAllocate(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 14))
	for range 300 {
		prog := make([]byte, 2*r.IntN(200))
		for i := range prog {
			prog[i] = byte(r.UintN(256))
		}
		runAddrProgram(t, prog)
		runSubnetProgram(t, prog)
		runPortProgram(t, prog)
	}
}
