package dispatcher

import (
	"testing"
	"time"
)

func TestStretchPeriod(t *testing.T) {
	tests := []struct {
		name    string
		period  time.Duration
		nodes   int
		maxRate int
		want    time.Duration
	}{
		{"no cap", time.Second, 10000, 0, time.Second},
		{"under the cap", time.Second, 500, 500, time.Second},
		{"twice the cap", time.Second, 1000, 500, 2 * time.Second},
		{"ten thousand nodes", time.Second, 10000, 500, 20 * time.Second},
		{"configured period already longer", 5 * time.Second, 1000, 500, 5 * time.Second},
		{"rounded to a millisecond", time.Second, 1001, 1000, 1001 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stretchPeriod(tt.period, tt.nodes, tt.maxRate); got != tt.want {
				t.Errorf("stretchPeriod(%v, %d, %d) = %v, want %v", tt.period, tt.nodes, tt.maxRate, got, tt.want)
			}
		})
	}
}

func TestLeaderChangeGrace(t *testing.T) {
	tests := []struct {
		name  string
		rate  int
		nodes int
		want  time.Duration
	}{
		{"fixed", 0, 1000, 6 * time.Second},
		{"small cluster", 200, 5, 6*time.Second + 25*time.Millisecond},
		{"thousand nodes", 200, 1000, 11 * time.Second},
		{"ten thousand nodes", 200, 10000, 56 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.ReconnectRate = tt.rate
			if got := leaderChangeGrace(&c, tt.nodes); got != tt.want {
				t.Errorf("leaderChangeGrace(rate %d, %d nodes) = %v, want %v", tt.rate, tt.nodes, got, tt.want)
			}
		})
	}
}
