package discovery

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

// TestLoopbackUDPAndTCP runs three members on the real transport (UDP
// probes and gossip, TCP joins and push/pull) on 127.0.0.1 ports picked by
// the kernel: they join, one crashes and is declared failed, one leaves.
func TestLoopbackUDPAndTCP(t *testing.T) {
	if testing.Short() {
		t.Skip("real network")
	}
	log := testLogger(t, slog.LevelWarn)
	profile := DefaultLocalConfig()
	key := bytes.Repeat([]byte{0x5C}, 32)
	ids := []string{"m1", "w1", "w2"}
	recs := map[string]*recorder{}
	gossips := map[string]*Gossip{}
	for i, id := range ids {
		cfg := profile
		cfg.NodeID = id
		cfg.Role = model.RoleWorker
		if id == "m1" {
			cfg.Role = model.RoleManager
			cfg.ClusterAddr = "127.0.0.1:2377"
		}
		cfg.BindAddr = "127.0.0.1:0"
		cfg.Keys = [][]byte{key}
		cfg.Label = "shoal-test"
		cfg.Logger = log
		recs[id] = &recorder{}
		cfg.Events = recs[id]
		g, err := New(cfg)
		if err != nil {
			t.Fatalf("New(%s): %v", id, err)
		}
		t.Cleanup(func() { _ = g.Shutdown() })
		gossips[id] = g
		if i > 0 {
			if _, err := g.Join([]string{gossips["m1"].AdvertiseAddr()}); err != nil {
				t.Fatalf("%s join: %v", id, err)
			}
		}
	}
	see := func(observers []string, st MemberState, of ...string) bool {
		for _, o := range observers {
			for _, id := range of {
				m, ok := gossips[o].Member(id)
				if !ok || (m.State != st && !(st == StateAlive && m.State == StateSuspect)) {
					return false
				}
			}
		}
		return true
	}
	wait := func(what string, timeout time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wait("all alive", 5*time.Second, func() bool { return see(ids, StateAlive, ids...) })
	if m, _ := gossips["w1"].Member("m1"); m.Addr != gossips["m1"].AdvertiseAddr() || m.Addr[:10] != "127.0.0.1:" || m.ClusterAddr != "127.0.0.1:2377" {
		t.Errorf("w1 sees m1 as %+v", m)
	}

	crashed := time.Now()
	if err := gossips["w2"].Shutdown(); err != nil {
		t.Fatal(err)
	}
	timing := profile.Timing(3)
	wait("w2 declared failed", timing.Detection+timing.SuspicionMax, func() bool { return see([]string{"m1", "w1"}, StateFailed, "w2") })
	t.Logf("crash declared failed by both after %v (expected %v)", time.Since(crashed).Round(time.Millisecond), timing.Detection)

	if err := gossips["w1"].Leave(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	wait("w1 left", 5*time.Second, func() bool { return see([]string{"m1"}, StateLeft, "w1") })
	// Events are delivered a little after the table changes.
	wait("m1's leave event", time.Second, func() bool { return recs["m1"].count(EventLeave, "w1") > 0 })
	if recs["m1"].count(EventLeave, "w1") != 1 || recs["m1"].count(EventFailed, "w2") != 1 || recs["m1"].count(EventFailed, "w1") != 0 {
		t.Errorf("m1 events: %s", recs["m1"])
	}
}
