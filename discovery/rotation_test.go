package discovery

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

// fakeClock is a settable clock.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func TestKeyRotatorSchedule(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r := NewKeyRotator()
	r.Now = clock.Now
	cluster := &model.Cluster{Spec: model.DefaultClusterSpec()}
	interval := cluster.Spec.Gossip.KeyRotationInterval
	delay := r.PropagationDelay

	// commit applies a decision as the manager would, and checks its step.
	commit := func(step string) []model.GossipKey {
		t.Helper()
		d, err := r.Next(cluster)
		if err != nil {
			t.Fatal(err)
		}
		if d.Step != step {
			t.Fatalf("at %v: step %q, want %q (keys %d)", clock.now, d.Step, step, len(d.Keys))
		}
		if step == "" {
			if d.Keys != nil {
				t.Fatalf("no step but keys")
			}
			return nil
		}
		for _, k := range d.Keys {
			if len(k.Key) != 32 {
				t.Fatalf("key of %d bytes", len(k.Key))
			}
		}
		if err := validateKeys(KeysOf(d.Keys)); err != nil {
			t.Fatal(err)
		}
		cluster.GossipKeys = d.Keys
		// The manager calls Next again when it sees the commit.
		if d, _ := r.Next(cluster); d.Keys != nil {
			t.Fatalf("step %q right after %q", d.Step, step)
		}
		return d.Keys
	}

	first := commit("create")
	// Nothing happens before the interval is up, and Next says when to
	// come back.
	clock.Advance(time.Hour)
	d, _ := r.Next(cluster)
	if d.Keys != nil || !d.NextCheck.Equal(first[0].CreatedAt.Add(interval)) {
		t.Fatalf("early decision %+v", d)
	}
	clock.Advance(interval)
	added := commit("add")
	if !bytes.Equal(added[0].Key, first[0].Key) || len(added) != 2 {
		t.Fatal("add must keep the old key primary")
	}
	// The new key becomes primary only after it had time to reach the nodes.
	clock.Advance(delay / 2)
	commit("")
	clock.Advance(delay / 2)
	promoted := commit("promote")
	if !bytes.Equal(promoted[0].Key, added[1].Key) || !bytes.Equal(promoted[1].Key, first[0].Key) {
		t.Fatal("promote must swap the keys")
	}
	clock.Advance(delay - time.Second)
	commit("")
	clock.Advance(time.Second)
	retired := commit("retire")
	if len(retired) != 1 || !bytes.Equal(retired[0].Key, added[1].Key) {
		t.Fatal("retire must keep the new key only")
	}
	clock.Advance(delay)
	commit("")

	// A new leader's rotator waits a full delay before its first step.
	clock.Advance(interval)
	commit("add")
	r2 := NewKeyRotator()
	r2.Now = clock.Now
	r = r2
	clock.Advance(delay / 2)
	commit("")
	clock.Advance(delay / 2)
	commit("")
	clock.Advance(delay / 2)
	commit("promote")
	clock.Advance(delay)
	commit("retire")

	// A removal forces a rotation to a key created after it.
	clock.Advance(delay)
	removedAt := clock.Now()
	r.RotateAfter(removedAt)
	forced := commit("add")
	if !forced[1].CreatedAt.After(removedAt) {
		t.Fatal("forced key not created after the removal")
	}
	clock.Advance(delay)
	commit("promote")
	clock.Advance(delay)
	commit("retire")
	clock.Advance(delay)
	commit("")

	// A removal during a rotation to an older key makes another rotation.
	clock.Advance(interval)
	commit("add")
	clock.Advance(time.Second)
	r.RotateAfter(clock.Now())
	clock.Advance(delay)
	commit("promote")
	clock.Advance(delay)
	d, _ = r.Next(cluster)
	if d.Step != "retire" {
		t.Fatalf("step %q, want retire", d.Step)
	}
	cluster.GossipKeys = d.Keys
	// The new primary predates the removal: another rotation starts at once.
	commit("add")
}

func TestKeyRotatorUsesClusterInterval(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r := NewKeyRotator()
	r.Now = clock.Now
	cluster := &model.Cluster{Spec: model.DefaultClusterSpec()}
	cluster.Spec.Gossip.KeyRotationInterval = time.Hour
	d, _ := r.Next(cluster)
	cluster.GossipKeys = d.Keys
	r.Next(cluster)
	clock.Advance(time.Hour)
	if d, _ := r.Next(cluster); d.Step != "add" {
		t.Errorf("step %q after the cluster's interval", d.Step)
	}
	cluster.Spec.Gossip.KeyRotationInterval = 0 // unset: 12 h
	if d, _ := r.Next(cluster); d.Step != "" || !d.NextCheck.Equal(cluster.GossipKeys[0].CreatedAt.Add(DefaultKeyRotationInterval)) {
		t.Errorf("unset interval: %+v", d)
	}
}

func TestKeyRotatorRandomnessFailure(t *testing.T) {
	r := NewKeyRotator()
	r.Rand = bytes.NewReader(nil)
	if _, err := r.Next(&model.Cluster{}); err == nil {
		t.Error("no error without randomness")
	}
	r.Rand = rand.Reader
	r.KeySize = 20
	if _, err := r.Next(&model.Cluster{}); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("key size 20: %v", err)
	}
}
