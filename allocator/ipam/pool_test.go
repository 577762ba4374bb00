package ipam

import (
	"errors"
	"net/netip"
	"testing"
)

func TestBitmapAllocateIsNextFitAndWraps(t *testing.T) {
	b := newBitmap(8)
	var got []uint64
	for range 8 {
		i, ok := b.allocate(2, 6)
		if !ok {
			break
		}
		got = append(got, i)
	}
	if want := []uint64{2, 3, 4, 5}; !equal(got, want) {
		t.Fatalf("allocations = %v, want %v", got, want)
	}
	b.clear(3)
	b.clear(5)
	// Next-fit: 5 is after the cursor... the cursor is at 6 (past the
	// range), so it starts from lo again and finds 3 first.
	if i, _ := b.allocate(2, 6); i != 3 {
		t.Fatalf("after release got %d, want 3", i)
	}
	if i, _ := b.allocate(2, 6); i != 5 {
		t.Fatalf("then got %d, want 5", i)
	}
	if _, ok := b.allocate(2, 6); ok {
		t.Fatal("a full range gave a number")
	}
	if b.used != 4 {
		t.Fatalf("used = %d, want 4", b.used)
	}
}

func TestBitmapSetClear(t *testing.T) {
	tests := []struct {
		name   string
		size   uint64
		ops    []func(*bitmap) bool
		want   []bool
		isSet  uint64
		wantIs bool
	}{
		{"set twice", 100, []func(*bitmap) bool{func(b *bitmap) bool { return b.set(70) }, func(b *bitmap) bool { return b.set(70) }}, []bool{true, false}, 70, true},
		{"out of range", 10, []func(*bitmap) bool{func(b *bitmap) bool { return b.set(10) }}, []bool{false}, 10, false},
		{"clear unset", 10, []func(*bitmap) bool{func(b *bitmap) bool { return b.clear(3) }}, []bool{false}, 3, false},
		{"set clear", 1000, []func(*bitmap) bool{func(b *bitmap) bool { return b.set(999) }, func(b *bitmap) bool { return b.clear(999) }}, []bool{true, true}, 999, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBitmap(tc.size)
			for i, op := range tc.ops {
				if got := op(b); got != tc.want[i] {
					t.Fatalf("op %d = %v, want %v", i, got, tc.want[i])
				}
			}
			if b.isSet(tc.isSet) != tc.wantIs {
				t.Fatalf("isSet(%d) = %v", tc.isSet, !tc.wantIs)
			}
		})
	}
}

func TestBitmapGrowsOnlyAsUsed(t *testing.T) {
	b := newBitmap(MaxVXLANID + 1)
	if _, ok := b.allocate(MinVXLANID, MaxVXLANID+1); !ok {
		t.Fatal("no VXLAN ID")
	}
	if n := len(b.words); n > MinVXLANID/64+1 {
		t.Fatalf("one VXLAN ID made %d words", n)
	}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

func TestSubnetPool(t *testing.T) {
	tests := []struct {
		name    string
		pools   []string
		size    int
		reserve []string // before allocating
		want    []string // allocations in order; "" = exhausted
		wantErr []error  // errors of the reservations
	}{
		{name: "default pool in /24s", want: []string{"10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"}},
		{name: "ingress reserved first", reserve: []string{IngressSubnet}, want: []string{"10.0.1.0/24"}},
		{name: "explicit inside a pool subnet is skipped", reserve: []string{"10.0.0.64/26"}, want: []string{"10.0.1.0/24"}},
		{name: "explicit /16 spans many", reserve: []string{"10.0.0.0/16"}, want: []string{"10.1.0.0/24"}},
		{name: "explicit outside pools", reserve: []string{"192.168.7.0/24"}, want: []string{"10.0.0.0/24"}},
		{name: "overlap refused", reserve: []string{"10.0.0.0/24", "10.0.0.128/25"}, wantErr: []error{nil, ErrOverlap}},
		{name: "larger over smaller refused", reserve: []string{"10.0.3.0/24", "10.0.0.0/16"}, wantErr: []error{nil, ErrOverlap}},
		{name: "explicit vs explicit refused", reserve: []string{"172.20.0.0/16", "172.20.5.0/24"}, wantErr: []error{nil, ErrOverlap}},
		{name: "ipv6 refused", reserve: []string{"fd00::/64"}, wantErr: []error{ErrInvalid}},
		{name: "too small refused", reserve: []string{"192.168.0.0/30"}, wantErr: []error{ErrInvalid}},
		{name: "exhaustion", pools: []string{"10.9.0.0/22"}, size: 24, want: []string{"10.9.0.0/24", "10.9.1.0/24", "10.9.2.0/24", "10.9.3.0/24", ""}},
		{name: "second pool after the first", pools: []string{"10.9.0.0/23", "172.30.0.0/23"}, size: 24, want: []string{"10.9.0.0/24", "10.9.1.0/24", "172.30.0.0/24", "172.30.1.0/24", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp, err := NewSubnetPool(tc.pools, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range tc.reserve {
				err := sp.Reserve(pfx(r))
				var want error
				if tc.wantErr != nil {
					want = tc.wantErr[i]
				}
				if (want == nil) != (err == nil) || (want != nil && !errors.Is(err, want)) {
					t.Fatalf("Reserve(%s) = %v, want %v", r, err, want)
				}
			}
			for _, w := range tc.want {
				got, err := sp.Allocate()
				if w == "" {
					if !errors.Is(err, ErrExhausted) {
						t.Fatalf("Allocate = %v, %v; want exhausted", got, err)
					}
					t.Logf("exhausted: %v", err)
					continue
				}
				if err != nil || got != pfx(w) {
					t.Fatalf("Allocate = %v, %v; want %s", got, err, w)
				}
			}
		})
	}
}

func TestSubnetPoolReleaseAndReserveBack(t *testing.T) {
	sp, _ := NewSubnetPool(nil, 0)
	a, _ := sp.Allocate()
	b, _ := sp.Allocate()
	sp.Release(a)
	if err := sp.Reserve(b); !errors.Is(err, ErrOverlap) {
		t.Fatalf("reserving a held subnet: %v", err)
	}
	if err := sp.Reserve(a); err != nil {
		t.Fatalf("reserving a released subnet: %v", err)
	}
	if err := sp.Reserve(pfx("192.168.0.0/24")); err != nil {
		t.Fatal(err)
	}
	sp.Release(pfx("192.168.0.0/24"))
	if err := sp.Reserve(pfx("192.168.0.0/25")); err != nil {
		t.Fatalf("explicit subnet not released: %v", err)
	}
}

func TestNewSubnetPoolRefusesBadPools(t *testing.T) {
	for _, tc := range []struct {
		pools []string
		size  int
	}{
		{[]string{"10.0.0.0/8"}, 7},
		{[]string{"10.0.0.0/8"}, 30},
		{[]string{"nonsense"}, 24},
		{[]string{"10.0.0.0/8", "10.1.0.0/16"}, 24},
		{[]string{"fd00::/48"}, 64},
	} {
		if _, err := NewSubnetPool(tc.pools, tc.size); !errors.Is(err, ErrInvalid) {
			t.Errorf("NewSubnetPool(%v, %d) = %v, want ErrInvalid", tc.pools, tc.size, err)
		}
	}
}

func TestAddrSpace(t *testing.T) {
	tests := []struct {
		name    string
		subnet  string
		gw      string
		ipRange string
		want    []string // "" = exhausted
		err     error    // of NewAddrSpace
	}{
		{name: "gateway first, then the rest", subnet: "10.0.0.0/29", want: []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", ""}},
		{name: "explicit gateway", subnet: "10.0.0.0/29", gw: "10.0.0.6", want: []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", ""}},
		{name: "range", subnet: "10.1.0.0/24", ipRange: "10.1.0.128/30", want: []string{"10.1.0.128", "10.1.0.129", "10.1.0.130", "10.1.0.131", ""}},
		{name: "gateway outside", subnet: "10.1.0.0/24", gw: "10.2.0.1", err: ErrInvalid},
		{name: "gateway is broadcast", subnet: "10.1.0.0/24", gw: "10.1.0.255", err: ErrInvalid},
		{name: "range outside", subnet: "10.1.0.0/24", ipRange: "10.1.1.0/28", err: ErrInvalid},
		{name: "too small", subnet: "10.1.0.0/30", err: ErrInvalid},
		{name: "too large: a /1 with its gateway at the top would size the bitmap by the request", subnet: "0.0.0.0/1", gw: "127.255.255.254", err: ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var gw netip.Addr
			var r netip.Prefix
			if tc.gw != "" {
				gw = addr(tc.gw)
			}
			if tc.ipRange != "" {
				r = pfx(tc.ipRange)
			}
			a, err := NewAddrSpace(pfx(tc.subnet), gw, r)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("NewAddrSpace = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				got, err := a.Allocate()
				if w == "" {
					if !errors.Is(err, ErrExhausted) {
						t.Fatalf("Allocate = %v, %v; want exhausted", got, err)
					}
					continue
				}
				if err != nil || got != addr(w) {
					t.Fatalf("Allocate = %v, %v; want %s", got, err, w)
				}
			}
		})
	}
}

func TestAddrSpaceReserveRelease(t *testing.T) {
	a, err := NewAddrSpace(pfx("10.0.5.0/24"), netip.Addr{}, netip.Prefix{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ip  string
		err error
	}{
		{"10.0.5.1", ErrInUse}, // the gateway
		{"10.0.5.0", ErrInvalid},
		{"10.0.5.255", ErrInvalid},
		{"10.0.6.3", ErrInvalid},
		{"10.0.5.9", nil},
		{"10.0.5.9", ErrInUse},
	} {
		if err := a.Reserve(addr(tc.ip)); !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Errorf("Reserve(%s) = %v, want %v", tc.ip, err, tc.err)
		}
	}
	a.Release(addr("10.0.5.1"))
	if err := a.Reserve(addr("10.0.5.1")); !errors.Is(err, ErrInUse) {
		t.Fatalf("the gateway was released: %v", err)
	}
	a.Release(addr("10.0.5.9"))
	if err := a.Reserve(addr("10.0.5.9")); err != nil {
		t.Fatal(err)
	}
}

func TestPortPool(t *testing.T) {
	p := NewPortPool()
	if err := p.Reserve(30000); err != nil {
		t.Fatal(err)
	}
	if err := p.Reserve(8080); err != nil {
		t.Fatal(err)
	}
	if err := p.Reserve(8080); !errors.Is(err, ErrInUse) {
		t.Fatalf("8080 twice: %v", err)
	}
	if err := p.Reserve(0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("port 0: %v", err)
	}
	n := 0
	for {
		port, err := p.Allocate()
		if err != nil {
			if !errors.Is(err, ErrExhausted) {
				t.Fatal(err)
			}
			t.Logf("exhausted: %v", err)
			break
		}
		if port < DynamicPortStart || port > DynamicPortEnd || port == 30000 {
			t.Fatalf("dynamic port %d", port)
		}
		n++
	}
	if want := DynamicPortEnd - DynamicPortStart; n != want {
		t.Fatalf("%d dynamic ports, want %d", n, want)
	}
}

func TestVXLANPool(t *testing.T) {
	p := NewVXLANPool()
	if err := p.Reserve(4096); err != nil {
		t.Fatal(err)
	}
	id, err := p.Allocate()
	if err != nil || id != 4097 {
		t.Fatalf("Allocate = %d, %v; want 4097", id, err)
	}
	if err := p.Reserve(MaxVXLANID + 1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("too large: %v", err)
	}
}
