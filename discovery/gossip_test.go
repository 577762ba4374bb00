package discovery

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

func TestJoinSpreadsMembershipAndMetadata(t *testing.T) {
	t.Parallel()
	c := newCluster(t, DefaultLocalConfig())
	ids := []string{"m1", "m2", "w1", "w2", "w3"}
	nodes := c.mustStart(ids...)
	c.waitFor(5*time.Second, "every member to see every member alive", func() bool {
		return allSee(nodes, StateAlive, ids...)
	})
	c.waitEvents(nodes, EventJoin, "", len(ids)-1)

	for _, n := range nodes {
		members := n.g.Members()
		if len(members) != len(ids) {
			t.Fatalf("%s lists %d members, want %d", n.g.cfg.NodeID, len(members), len(ids))
		}
		for i, m := range members {
			if m.NodeID != ids[i] {
				t.Fatalf("members not sorted by ID: %v", members)
			}
			wantRole := model.RoleWorker
			if m.NodeID[0] == 'm' {
				wantRole = model.RoleManager
			}
			if m.Role != wantRole || (wantRole == model.RoleManager) != (m.ClusterAddr == m.NodeID+".example:2377") {
				t.Errorf("%s sees %s with role %q cluster address %q", n.g.cfg.NodeID, m.NodeID, m.Role, m.ClusterAddr)
			}
			if m.Local != (m.NodeID == n.g.cfg.NodeID) {
				t.Errorf("%s: Local=%v for %s", n.g.cfg.NodeID, m.Local, m.NodeID)
			}
			if m.Addr != c.node(m.NodeID).tr.Addr() {
				t.Errorf("%s sees %s at %s, want %s", n.g.cfg.NodeID, m.NodeID, m.Addr, c.node(m.NodeID).tr.Addr())
			}
		}
		// One join event per other member, none about itself.
		for _, id := range ids {
			want := 1
			if id == n.g.cfg.NodeID {
				want = 0
			}
			if got := n.rec.count(EventJoin, id); got != want {
				t.Errorf("%s got %d join events for %s, want %d", n.g.cfg.NodeID, got, id, want)
			}
		}
		h := n.g.Health()
		if h.Alive+h.Suspect != len(ids) || !h.Encrypted || h.Keys != 1 || h.PrimaryKeyID != KeyID(c.key) {
			t.Errorf("%s health %+v", n.g.cfg.NodeID, h)
		}
	}
	if got := nodes[0].g.AdvertiseAddr(); got != nodes[0].tr.Addr() {
		t.Errorf("AdvertiseAddr = %q, want %q", got, nodes[0].tr.Addr())
	}
	if m, ok := nodes[1].g.Member("w3"); !ok || m.Role != model.RoleWorker {
		t.Errorf("Member(w3) = %+v, %v", m, ok)
	}
	if _, ok := nodes[1].g.Member("nope"); ok {
		t.Error("Member(nope) found")
	}
}

func TestGracefulLeaveIsNotAFailure(t *testing.T) {
	c := newCluster(t, DefaultLocalConfig())
	ids := []string{"m1", "m2", "w1", "w2", "w3", "w4", "w5", "w6"}
	nodes := c.mustStart(ids...)
	c.waitFor(5*time.Second, "all alive", func() bool { return allSee(nodes, StateAlive, ids...) })

	// Members leave one after the other; each time, every member still
	// running must report a leave, never a failure.
	leavers := []string{"w6", "w3", "m2"}
	rest := slices.Clone(nodes)
	for _, id := range leavers {
		leaver := c.node(id)
		rest = slices.DeleteFunc(rest, func(n *node) bool { return n == leaver })
		if err := leaver.g.Leave(2 * time.Second); err != nil {
			t.Fatalf("Leave: %v", err)
		}
		if err := leaver.g.Shutdown(); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		// A member that missed the leave broadcast (each member sends it
		// only a few times) learns it when its own probes fail, after up
		// to the longest suspicion timeout; the notice tells it to report
		// a leave still.
		timing := c.profile.Timing(len(ids))
		c.waitFor(timing.SuspicionMax+timing.Detection, "the others to see "+id+" left", func() bool { return allSee(rest, StateLeft, id) })
		c.waitEvents(rest, EventLeave, id, 1)
	}
	// Stay a while: a left member must not turn into a failed one.
	time.Sleep(5 * c.profile.ProbeInterval)
	for _, n := range rest {
		for _, id := range leavers {
			if got := n.rec.count(EventLeave, id); got != 1 {
				t.Errorf("%s got %d leave events for %s, want 1: %s", n.g.cfg.NodeID, got, id, n.rec)
			}
			if s := states(n)[id]; s != StateLeft {
				t.Errorf("%s sees %s %v, want left", n.g.cfg.NodeID, id, s)
			}
		}
		if got := n.rec.count(EventFailed, ""); got != 0 {
			t.Errorf("%s got failure events: %s", n.g.cfg.NodeID, n.rec)
		}
	}
	leaver := c.node("w6")
	if err := leaver.g.Leave(time.Second); !errors.Is(err, ErrShutdown) {
		t.Errorf("Leave after Shutdown = %v, want ErrShutdown", err)
	}
	if _, err := leaver.g.Join([]string{nodes[0].tr.Addr()}); !errors.Is(err, ErrShutdown) {
		t.Errorf("Join after Shutdown = %v, want ErrShutdown", err)
	}
	if err := leaver.g.Shutdown(); err != nil {
		t.Errorf("second Shutdown = %v", err)
	}
}

// TestCrashDetectedWithinProfileBound shuts a member down without a leave
// and checks that every other member declares it failed within the
// profile's expected detection time (Timing.Detection) plus one minimum
// suspicion timeout: in a small cluster the suspicion lasts until the other
// members have probed the crashed one themselves, which may take longer.
// A member's own view must show it suspect first.
func TestCrashDetectedWithinProfileBound(t *testing.T) {
	for _, tc := range []struct {
		name    string
		profile Config
	}{
		{"local", DefaultLocalConfig()},
		{"lan", DefaultLANConfig()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, tc.profile)
			ids := []string{"m1", "m2", "m3", "w1", "w2"}
			nodes := c.mustStart(ids...)
			c.waitFor(5*time.Second, "all alive", func() bool { return allSee(nodes, StateAlive, ids...) })
			// Let the join gossip settle so it does not help detection.
			time.Sleep(2 * tc.profile.ProbeInterval)

			timing := tc.profile.Timing(len(ids))
			bound := timing.Detection + timing.SuspicionMin
			victim := c.node("w2")
			rest := nodes[:4]
			crashed := time.Now()
			if err := victim.g.Shutdown(); err != nil {
				t.Fatal(err)
			}
			sawSuspect := false
			c.waitFor(3*bound, "every member to declare w2 failed", func() bool {
				for _, n := range rest {
					if states(n)["w2"] == StateSuspect {
						sawSuspect = true
					}
				}
				return allSee(rest, StateFailed, "w2")
			})
			c.waitEvents(rest, EventFailed, "w2", 1)
			var first, last time.Duration
			for i, n := range rest {
				at, ok := n.rec.first(EventFailed, "w2")
				if !ok {
					t.Fatalf("%s has no failure event: %s", n.g.cfg.NodeID, n.rec)
				}
				d := at.Sub(crashed)
				if i == 0 || d < first {
					first = d
				}
				last = max(last, d)
			}
			t.Logf("%s profile, 5 members: crash declared failed by the first member after %v, by all after %v (expected %v, bound %v)",
				tc.name, first.Round(time.Millisecond), last.Round(time.Millisecond), timing.Detection, bound)
			if last > bound {
				t.Errorf("detection took %v, bound %v", last, bound)
			}
			if !sawSuspect {
				t.Errorf("no member showed w2 as suspect before it failed")
			}
			for _, n := range rest {
				if got := n.rec.count(EventFailed, ""); got != 1 {
					t.Errorf("%s got %d failure events, want 1: %s", n.g.cfg.NodeID, got, n.rec)
				}
			}
		})
	}
}

// TestPartitionAndHeal splits the cluster in two: each side declares the
// other failed. Once the network heals, the reconnect loop merges the sides
// again and every member sees every other alive.
func TestPartitionAndHeal(t *testing.T) {
	profile := DefaultLocalConfig()
	c := newCluster(t, profile)
	left := []string{"m1", "w1", "w2"}
	right := []string{"m2", "w3", "w4"}
	ids := append(slices.Clone(left), right...)
	nodes := c.mustStart(ids...)
	c.waitFor(5*time.Second, "all alive", func() bool { return allSee(nodes, StateAlive, ids...) })

	c.net.Partition(left, right)
	timing := profile.Timing(len(ids))
	// A member cut off from half the cluster gets fewer confirmations of
	// its suspicions than after a crash, so it may wait up to SuspicionMax.
	c.waitFor(timing.SuspicionMax+2*timing.Detection, "each side to declare the other failed", func() bool {
		return allSee(nodes[:3], StateFailed, right...) && allSee(nodes[3:], StateFailed, left...) &&
			allSee(nodes[:3], StateAlive, left...) && allSee(nodes[3:], StateAlive, right...)
	})

	healed := time.Now()
	c.net.Heal()
	c.waitFor(10*profile.ReconnectInterval+2*timing.Detection, "the sides to merge", func() bool {
		return allSee(nodes, StateAlive, ids...)
	})
	t.Logf("partition merged %v after healing", time.Since(healed).Round(time.Millisecond))
	c.waitEvents(nodes, EventJoin, "", len(ids)-1+len(left)) // the first joins, and the other side again
	for _, n := range nodes {
		other := right
		if slices.Contains(right, n.g.cfg.NodeID) {
			other = left
		}
		for _, id := range other {
			if n.rec.count(EventFailed, id) == 0 || n.rec.count(EventJoin, id) < 2 {
				t.Errorf("%s: want a failure and a rejoin of %s: %s", n.g.cfg.NodeID, id, n.rec)
			}
		}
	}
}

// TestStallShorterThanToleranceIsNotAFailure cuts a member off (it neither
// receives nor sends: a paused process or a network blip) for less than its
// profile's stall tolerance, then restores it: nobody may declare anybody
// failed, neither the others it nor it the others.
func TestStallShorterThanToleranceIsNotAFailure(t *testing.T) {
	profile := DefaultLANConfig()
	c := newCluster(t, profile)
	ids := []string{"m1", "m2", "m3", "w1", "w2"}
	nodes := c.mustStart(ids...)
	c.waitFor(5*time.Second, "all alive", func() bool { return allSee(nodes, StateAlive, ids...) })
	time.Sleep(2 * profile.ProbeInterval)

	timing := profile.Timing(len(ids))
	stall := timing.StallTolerance * 2 / 3
	t.Logf("stalling w2 for %v (tolerance %v)", stall, timing.StallTolerance)
	c.net.Isolate("w2")
	time.Sleep(stall)
	c.net.Heal()
	// Wait out every suspicion that could have started.
	time.Sleep(timing.SuspicionMax)
	for _, n := range nodes {
		if got := n.rec.count(EventFailed, ""); got != 0 {
			t.Errorf("%s declared a failure after a %v stall: %s", n.g.cfg.NodeID, stall, n.rec)
		}
	}
	if !allSee(nodes, StateAlive, ids...) {
		t.Errorf("not all alive after the stall")
	}
	t.Logf("w2 refuted %d suspicions", c.node("w2").g.Health().Refutations)
}

// TestKeyRotationDropsNoMember rotates the key through KeyRotator's three
// lists, delivered to the members one after the other as a manager would,
// and checks that no member is ever declared failed. Then a node with only
// the old key can no longer join, and one with the new key can.
func TestKeyRotationDropsNoMember(t *testing.T) {
	profile := DefaultLocalConfig()
	c := newCluster(t, profile)
	ids := []string{"m1", "m2", "w1", "w2"}
	nodes := c.mustStart(ids...)
	c.waitFor(5*time.Second, "all alive", func() bool { return allSee(nodes, StateAlive, ids...) })

	oldKey := c.key
	newKey := bytes.Repeat([]byte{0xB2}, 32)
	steps := [][][]byte{
		{oldKey, newKey}, // add
		{newKey, oldKey}, // promote
		{newKey},         // retire
	}
	for _, keys := range steps {
		for _, n := range nodes {
			if err := n.g.SetKeys(keys); err != nil {
				t.Fatalf("SetKeys: %v", err)
			}
			// Delivery to the nodes is not simultaneous.
			time.Sleep(profile.ProbeInterval)
		}
		time.Sleep(2 * profile.ProbeInterval)
		for _, n := range nodes {
			n.g.keyMu.Lock()
			got := n.g.ring.GetKeys()
			ok := slices.EqualFunc(got, keys, bytes.Equal)
			n.g.keyMu.Unlock()
			if !ok {
				t.Fatalf("%s keyring does not match the list", n.g.cfg.NodeID)
			}
		}
	}
	// Probe for a while with the new key only.
	time.Sleep(profile.Timing(len(ids)).Detection)
	for _, n := range nodes {
		if got := n.rec.count(EventFailed, ""); got != 0 {
			t.Errorf("%s declared failures during the rotation: %s", n.g.cfg.NodeID, n.rec)
		}
		if h := n.g.Health(); h.PrimaryKeyID != KeyID(newKey) || h.Keys != 1 {
			t.Errorf("%s health %+v", n.g.cfg.NodeID, h)
		}
	}
	if !allSee(nodes, StateAlive, ids...) {
		t.Fatal("members lost during the rotation")
	}

	stale := c.config("w9")
	stale.Keys = [][]byte{oldKey}
	if _, err := c.start(stale, "m1"); err == nil {
		t.Error("a node with the retired key joined")
	}
	fresh := c.config("w8")
	fresh.Keys = [][]byte{newKey}
	if _, err := c.start(fresh, "m1"); err != nil {
		t.Errorf("a node with the new key cannot join: %v", err)
	}
	c.waitFor(5*time.Second, "w8 to be seen", func() bool { return allSee(nodes, StateAlive, "w8") })
	for _, n := range nodes {
		if _, ok := n.g.Member("w9"); ok {
			t.Errorf("%s lists w9, which has the retired key", n.g.cfg.NodeID)
		}
	}
}

func TestWrongKeyIsRefused(t *testing.T) {
	t.Parallel()
	profile := DefaultLocalConfig()
	c := newCluster(t, profile)
	ids := []string{"m1", "w1", "w2"}
	nodes := c.mustStart(ids...)
	c.waitFor(5*time.Second, "all alive", func() bool { return allSee(nodes, StateAlive, ids...) })

	intruder := c.config("x1")
	intruder.Keys = [][]byte{bytes.Repeat([]byte{0xEE}, 32)}
	n, err := c.start(intruder, "m1", "w1")
	if err == nil {
		t.Fatal("a node with another key joined")
	}
	// It keeps trying to probe and gossip on its own; nobody must hear it.
	time.Sleep(profile.Timing(4).Detection)
	for _, o := range nodes {
		if _, ok := o.g.Member("x1"); ok {
			t.Errorf("%s lists the intruder", o.g.cfg.NodeID)
		}
		if got := o.rec.count(EventJoin, "x1"); got != 0 {
			t.Errorf("%s got a join event for the intruder", o.g.cfg.NodeID)
		}
	}
	if got := len(n.g.Members()); got != 1 {
		t.Errorf("the intruder lists %d members, want itself only", got)
	}

	// Unencrypted gossip is refused as well.
	plain := c.config("x2")
	plain.Keys = nil
	plain.InsecureNoEncryption = true
	if _, err := c.start(plain, "m1"); err == nil {
		t.Error("an unencrypted node joined")
	}
}

// TestRemovedNodeIsRefused: a node removed with `node rm` cannot join, a
// member removed while it runs disappears from Members at once, and good
// nodes still join while a removed one lingers in memberlist's lists.
func TestRemovedNodeIsRefused(t *testing.T) {
	t.Parallel()
	profile := DefaultLocalConfig()
	c := newCluster(t, profile)
	ids := []string{"m1", "w1", "w2"}
	nodes := c.mustStart(ids...)
	c.waitFor(5*time.Second, "all alive", func() bool { return allSee(nodes, StateAlive, ids...) })

	// A removed node cannot start...
	c.remove("x1")
	if _, err := New(c.config("x1")); !errors.Is(err, ErrRemoved) {
		t.Fatalf("New for a removed node = %v, want ErrRemoved", err)
	}
	// ...and one that does not know it was removed (its own list is
	// stale) is not let in.
	cfg := c.config("x1")
	cfg.IsRemoved = nil
	x1, err := c.start(cfg, "m1")
	if err != nil {
		t.Logf("removed node's join: %v", err)
	}
	time.Sleep(profile.Timing(4).Detection)
	for _, n := range nodes {
		if _, ok := n.g.Member("x1"); ok {
			t.Errorf("%s lists the removed node", n.g.cfg.NodeID)
		}
		if got := n.rec.count(EventJoin, "x1"); got != 0 {
			t.Errorf("%s got a join event for the removed node", n.g.cfg.NodeID)
		}
	}
	_ = x1.g.Shutdown()

	// A member removed while it runs (node rm --force) is hidden at once.
	c.remove("w2")
	for _, n := range nodes[:2] {
		if _, ok := n.g.Member("w2"); ok {
			t.Errorf("%s still lists w2 after its removal", n.g.cfg.NodeID)
		}
		for _, m := range n.g.Members() {
			if m.NodeID == "w2" {
				t.Errorf("%s Members lists w2", n.g.cfg.NodeID)
			}
		}
	}
	// A new node joins although w2 is still alive in memberlist's lists.
	if _, err := c.start(c.config("w3"), "m1"); err != nil {
		t.Fatalf("a good node cannot join while a removed one lingers: %v", err)
	}
	c.waitFor(5*time.Second, "w3 to be seen", func() bool { return allSee(nodes[:2], StateAlive, "w3") })
}

func TestSetKeysRefusedWithoutEncryption(t *testing.T) {
	t.Parallel()
	c := newCluster(t, DefaultLocalConfig())
	cfg := c.config("w1")
	cfg.Keys = nil
	cfg.InsecureNoEncryption = true
	n, err := c.start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.g.SetKeys([][]byte{c.key}); !errors.Is(err, ErrNotEncrypted) {
		t.Errorf("SetKeys = %v, want ErrNotEncrypted", err)
	}
	if h := n.g.Health(); h.Encrypted {
		t.Errorf("health says encrypted: %+v", h)
	}
}

func TestSetKeysValidates(t *testing.T) {
	t.Parallel()
	c := newCluster(t, DefaultLocalConfig())
	n := c.mustStart("w1")[0]
	for _, keys := range [][][]byte{nil, {[]byte("short")}, {c.key, c.key}} {
		if err := n.g.SetKeys(keys); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("SetKeys(%d keys) = %v, want ErrInvalidKey", len(keys), err)
		}
	}
}

// TestHandlerMayCallBack: the handler may read the membership and call
// Leave, even while Shutdown waits for it.
func TestHandlerMayCallBack(t *testing.T) {
	t.Parallel()
	c := newCluster(t, DefaultLocalConfig())
	c.mustStart("m1")
	var g *Gossip
	entered, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	cfg := c.config("w1")
	tr := c.net.NewTransport("w1")
	cfg.Transport = tr
	first := true
	cfg.Events = EventHandlerFunc(func(e Event) {
		_ = g.Members()
		_ = g.Health()
		if first {
			first = false
			close(entered)
			<-release
			done <- g.Leave(time.Second)
		}
	})
	var err error
	g, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Join([]string{c.node("m1").tr.Addr()}); err != nil {
		t.Fatal(err)
	}
	<-entered
	shut := make(chan struct{})
	go func() {
		_ = g.Shutdown()
		close(shut)
	}()
	time.Sleep(50 * time.Millisecond)
	close(release)
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, ErrShutdown) {
			t.Errorf("Leave from the handler = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Leave from the handler hangs")
	}
	select {
	case <-shut:
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown hangs while the handler calls Leave")
	}
}

func TestSetRoleSpreadsToEveryMember(t *testing.T) {
	t.Parallel()
	c := newCluster(t, DefaultLocalConfig())
	ids := []string{"m1", "w1", "w2"}
	nodes := c.mustStart(ids...)
	c.waitFor(5*time.Second, "every member to see every member alive", func() bool {
		return allSee(nodes, StateAlive, ids...)
	})

	// w1 is promoted: it now advertises a cluster address.
	if err := nodes[1].g.SetRole(model.RoleManager, "w1.example:2377", "", time.Second); err != nil {
		t.Fatal(err)
	}
	seen := func(role model.NodeRole, addr string) func() bool {
		return func() bool {
			for _, n := range nodes {
				m, ok := n.g.Member("w1")
				if !ok || m.Role != role || m.ClusterAddr != addr {
					return false
				}
			}
			return true
		}
	}
	c.waitFor(5*time.Second, "every member to see w1 as a manager", seen(model.RoleManager, "w1.example:2377"))
	if got := nodes[0].rec.count(EventUpdate, "w1"); got < 1 {
		t.Errorf("m1 got %d update events for w1, want at least 1", got)
	}

	// And demoted again.
	if err := nodes[1].g.SetRole(model.RoleWorker, "", "", time.Second); err != nil {
		t.Fatal(err)
	}
	c.waitFor(5*time.Second, "every member to see w1 as a worker", seen(model.RoleWorker, ""))

	// Metadata that does not fit is refused and changes nothing.
	long := strings.Repeat("x", 600)
	if err := nodes[1].g.SetRole(model.RoleManager, long, "", time.Second); !errors.Is(err, ErrInvalidMeta) {
		t.Errorf("SetRole with a %d-byte address: err = %v, want ErrInvalidMeta", len(long), err)
	}
	if m, _ := nodes[0].g.Member("w1"); m.Role != model.RoleWorker {
		t.Errorf("after a refused SetRole m1 sees w1 as %q", m.Role)
	}
}
