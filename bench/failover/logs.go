package main

import (
	"strings"
	"time"

	"github.com/shoal-dev/shoal/internal/proctest"
)

// leaderSince reads the node's log for the first "entering leader state"
// after killed, and returns how long after killed it was written.
func leaderSince(n *proctest.Node, killed time.Time) (time.Duration, bool) {
	for _, line := range strings.Split(n.Log(), "\n") {
		if !strings.Contains(line, "entering leader state") {
			continue
		}
		ts, ok := strings.CutPrefix(line, "time=")
		if !ok {
			continue
		}
		ts, _, _ = strings.Cut(ts, " ")
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || t.Before(killed) {
			continue
		}
		return t.Sub(killed), true
	}
	return 0, false
}
