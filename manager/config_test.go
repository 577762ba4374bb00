package manager

import (
	"slices"
	"strings"
	"testing"
)

// TestAddrPoolSettings checks the init settings of the address pool: what
// Validate refuses, and what the new cluster's spec holds.
func TestAddrPoolSettings(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pools    []string
		size     uint32
		err      string
		wantPool []string
		wantSize uint32
	}{
		{"defaults", nil, 0, "", []string{"10.0.0.0/8"}, 24},
		{"Docker's example", []string{"10.10.0.0/16", "10.20.0.0/16"}, 26, "", []string{"10.10.0.0/16", "10.20.0.0/16"}, 26},
		{"size only", nil, 20, "", []string{"10.0.0.0/8"}, 20},
		{"not CIDR", []string{"10.0.0.0"}, 24, `--default-addr-pool "10.0.0.0"`, nil, 0},
		{"IPv6", []string{"fd00::/64"}, 24, "only IPv4 pools", nil, 0},
		{"host bits set", []string{"10.1.2.3/16"}, 24, "did you mean 10.1.0.0/16?", nil, 0},
		{"overlap", []string{"10.0.0.0/8", "10.20.0.0/16"}, 24, "10.20.0.0/16 overlaps 10.0.0.0/8", nil, 0},
		{"subnet wider than the pool", []string{"192.168.0.0/25"}, 24, "must be between the pools' prefix length (25) and 29", nil, 0},
		{"subnet too small", nil, 30, "--default-addr-pool-mask-length 30", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig(t.TempDir())
			cfg.DefaultAddrPool, cfg.SubnetSize = tc.pools, tc.size
			err := cfg.Validate()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Validate: %v, want an error saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c, _, err := newCluster(false, cfg.DefaultAddrPool, cfg.SubnetSize)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Spec.AddrPool(), tc.wantPool) || c.Spec.Subnet() != tc.wantSize {
				t.Errorf("cluster pool %v /%d, want %v /%d", c.Spec.AddrPool(), c.Spec.Subnet(), tc.wantPool, tc.wantSize)
			}
		})
	}
}
