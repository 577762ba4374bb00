package ca

import (
	"crypto/x509"
	"math/rand/v2"
	"testing"
	"time"
)

func TestRenewalTime(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		life time.Duration
	}{
		{"90 days", 90 * 24 * time.Hour},
		{"1 hour", time.Hour},
		{"20 years", 20 * 365 * 24 * time.Hour},
		{"250 years", 250 * 365 * 24 * time.Hour}, // life*3 would overflow
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := &x509.Certificate{NotBefore: start, NotAfter: start.Add(tt.life)}
			lo := start.Add(tt.life / 100 * 50)
			hi := start.Add(tt.life / 100 * 80)
			rnd := rand.New(rand.NewPCG(1, 2))
			var minSeen, maxSeen time.Time
			for i := 0; i < 2000; i++ {
				r := RenewalTime(cert, rnd)
				if r.Before(lo) || r.After(hi) {
					t.Fatalf("RenewalTime %s outside [%s, %s]", r, lo, hi)
				}
				if minSeen.IsZero() || r.Before(minSeen) {
					minSeen = r
				}
				if r.After(maxSeen) {
					maxSeen = r
				}
			}
			// The points spread over the window rather than bunching.
			window := hi.Sub(lo)
			if minSeen.Sub(lo) > window/10 || hi.Sub(maxSeen) > window/10 {
				t.Fatalf("points in [%s, %s] do not cover the window [%s, %s]", minSeen, maxSeen, lo, hi)
			}
			// The global source works too.
			if r := RenewalTime(cert, nil); r.Before(lo) || r.After(hi) {
				t.Fatalf("RenewalTime(nil rnd) %s outside the window", r)
			}
		})
	}

	// Same seed, same answer.
	cert := &x509.Certificate{NotBefore: start, NotAfter: start.Add(90 * 24 * time.Hour)}
	a := RenewalTime(cert, rand.New(rand.NewPCG(7, 7)))
	b := RenewalTime(cert, rand.New(rand.NewPCG(7, 7)))
	if !a.Equal(b) {
		t.Fatalf("seeded RenewalTime is not deterministic: %s vs %s", a, b)
	}
	// A certificate with no life is renewed at once.
	if r := RenewalTime(&x509.Certificate{NotBefore: start, NotAfter: start}, nil); !r.Equal(start) {
		t.Fatalf("RenewalTime of an empty life = %s", r)
	}
}

func TestNeedsRenewal(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cert := &x509.Certificate{NotBefore: start, NotAfter: start.Add(100 * time.Hour)}
	tests := []struct {
		name string
		now  time.Time
		want bool
	}{
		{"not yet valid", start.Add(-time.Minute), true},
		{"fresh", start.Add(time.Minute), false},
		{"half-life", start.Add(50 * time.Hour), false},
		{"just before 80%", start.Add(80*time.Hour - time.Second), false},
		{"at 80%", start.Add(80 * time.Hour), true},
		{"at 90%", start.Add(90 * time.Hour), true},
		{"expired", start.Add(101 * time.Hour), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NeedsRenewal(cert, tt.now); got != tt.want {
				t.Fatalf("NeedsRenewal = %v, want %v", got, tt.want)
			}
		})
	}
}
