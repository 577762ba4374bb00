package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/internal/proctest"
)

// TestGossipFailureDetection runs a manager and a worker as processes: a
// worker paused (SIGSTOP) for less than gossip's suspicion time is never
// marked down; one that stays paused is marked down by gossip, confirmed
// by its missing heartbeats, long before the heartbeat path alone would
// (its hold ends after 10 s).
func TestGossipFailureDetection(t *testing.T) {
	c := proctest.New(t)
	m1 := c.InitManager("m1", "--no-agent")
	sw := m1.WaitReady(30 * time.Second)
	w1 := c.JoinWorker("w1", sw.JoinTokens.Worker, m1)
	cl := m1.Client()
	ctx := context.Background()
	nodeState := func() swarm.NodeState {
		n, _, err := cl.NodeInspectWithRaw(ctx, "w1")
		if err != nil {
			return ""
		}
		return n.Status.State
	}
	proctest.Eventually(t, 30*time.Second, "w1 ready", func() error {
		if s := nodeState(); s != swarm.NodeStateReady {
			return fmt.Errorf("w1 is %q", s)
		}
		return nil
	})
	// Let gossip settle: the worker needs the keys from its session and a
	// join through the manager.
	proctest.Eventually(t, 30*time.Second, "gossip joined", func() error {
		for _, l := range []string{m1.Log()} {
			if contains(l, "member join") {
				return nil
			}
		}
		return fmt.Errorf("the manager has not seen the worker in gossip yet")
	})

	// A short stall: never down.
	w1.Pause()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if s := nodeState(); s == swarm.NodeStateDown {
			w1.Resume()
			t.Fatal("a worker paused for 2 s was marked down")
		}
		time.Sleep(100 * time.Millisecond)
	}
	w1.Resume()
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if s := nodeState(); s == swarm.NodeStateDown {
			t.Fatal("a worker paused for 2 s was marked down after it resumed")
		}
	}

	// A long stall: down through gossip.
	w1.Pause()
	defer w1.Resume()
	start := time.Now()
	proctest.Eventually(t, 15*time.Second, "w1 down", func() error {
		if s := nodeState(); s != swarm.NodeStateDown {
			return fmt.Errorf("w1 is %q", s)
		}
		return nil
	})
	took := time.Since(start)
	n, _, _ := cl.NodeInspectWithRaw(ctx, "w1")
	t.Logf("paused worker marked down after %v: %q", took.Round(time.Millisecond), n.Status.Message)
	if took > 8*time.Second {
		t.Fatalf("down only after %v: gossip did not speed detection up", took)
	}
}
