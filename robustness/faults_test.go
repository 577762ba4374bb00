package robustness

import (
	"fmt"
	"math/rand"
	"slices"
	"sort"
	"strings"
	"time"
)

// faultKind is one kind of failure the suite injects.
type faultKind string

// Faults. Each is undone ("healed") after its hold time; one runs at a
// time, so the cluster always has a chance to recover in between.
const (
	// Kill the leader or a follower as a crash would (in-process: its
	// links and connections drop at once, then the node stops; multi-
	// process: kill -9), and start it again from its data dir on heal.
	faultKillLeader   faultKind = "kill-leader"
	faultKillFollower faultKind = "kill-follower"
	// Kill two managers of five: the rest keep a quorum.
	faultKillMinority faultKind = "kill-minority"
	// Restart a manager cleanly (SIGTERM, or Shutdown with its links up: a
	// leader hands over first) and start it again at once.
	faultRestart faultKind = "restart"
	// Cut the leader from one follower only, then restart the leader
	// cleanly: its leadership handover may pick the follower it cannot
	// reach and fail, and it shuts down while still leading.
	faultRestartLeaderCut faultKind = "restart-leader-cut"
	// Cut the leader, with a minority of followers, from the majority
	// (multi-process: the leader from both followers, with iptables).
	faultPartitionLeader faultKind = "partition-leader"
	// Cut one follower from every other manager.
	faultPartitionFollower faultKind = "partition-follower"
	// Cut any one manager (leader or not) from every other.
	faultIsolate faultKind = "isolate"
	// Stall a manager: in-process its links are cut and every request to
	// or from it waits; multi-process SIGSTOP, then SIGCONT.
	faultPause faultKind = "pause"
	// Stall the leader: it wakes up believing it still leads.
	faultPauseLeader faultKind = "pause-leader"
	// Multi-process: SIGSTOP the leader while a client writes through a
	// follower (freeze_test.go), long enough for the others to elect a
	// leader and for writes to be back well before the SIGCONT.
	faultFreezeLeader faultKind = "freeze-leader"
	// Cut every link: no quorum anywhere.
	faultQuorumLoss faultKind = "quorum-loss"
	// Five managers: two halves that only one manager in the middle
	// reaches.
	faultBridge faultKind = "bridge"
	// Multi-process: kill -9 a worker's agent, restart it on heal.
	faultKillWorker faultKind = "kill-worker"
	// Multi-process: docker kill the containers running under a worker.
	faultKillContainers faultKind = "kill-containers"
	// Multi-process: cut a worker from every manager with iptables; its
	// containers keep running.
	faultIsolateWorker faultKind = "isolate-worker"
	// Multi-process (TestDiskFaults): fill the file system under one
	// manager's data dir (a tmpfs of its own); healed by freeing it.
	faultDiskFull faultKind = "disk-full"
	// Multi-process (TestDiskFaults): stop a follower, cut its raft.db in
	// half, start it again: it must refuse; healed by demoting, removing,
	// wiping and joining it again.
	faultTruncateLog faultKind = "truncate-log"
)

// fault is one step of a schedule.
type fault struct {
	Kind faultKind     `json:"kind"`
	At   time.Duration `json:"at"`   // after the load started
	Hold time.Duration `json:"hold"` // before it is healed
	// Pick chooses among the candidate targets when the fault runs (the
	// leader is only known then).
	Pick int `json:"pick"`
}

func (f fault) String() string {
	return fmt.Sprintf("%7.3fs %-18s hold %5.3fs pick %d", f.At.Seconds(), f.Kind, f.Hold.Seconds(), f.Pick)
}

// planFaults draws a schedule over duration from rng. The kinds in
// longHolds are held like pause-leader (see drawHold).
func planFaults(rng *rand.Rand, kinds []faultKind, duration time.Duration, longHolds ...faultKind) []fault {
	var plan []fault
	at := 500*time.Millisecond + time.Duration(rng.Int63n(int64(time.Second)))
	for at < duration-time.Second {
		f := fault{Kind: kinds[rng.Intn(len(kinds))], At: at, Pick: rng.Intn(1 << 16)}
		f.Hold = drawHold(rng, f.Kind, longHolds)
		plan = append(plan, f)
		at += f.Hold + 300*time.Millisecond + time.Duration(rng.Int63n(int64(1500*time.Millisecond)))
	}
	return plan
}

// drawHold draws how long a fault of kind k lasts before it is healed.
func drawHold(rng *rand.Rand, k faultKind, longHolds []faultKind) time.Duration {
	switch {
	case k == faultRestart || k == faultKillContainers:
		return 0
	case k == faultFreezeLeader:
		// An election (about 1 s, up to 2 s loaded), then freezeBound,
		// and a margin: the check needs writes back before the SIGCONT.
		return 4*time.Second + time.Duration(rng.Int63n(int64(2*time.Second)))
	case k == faultPauseLeader || slices.Contains(longHolds, k):
		// Long enough for the others to elect a leader and write: the
		// woken (or reconnected) leader must not serve what it had.
		return 1500*time.Millisecond + time.Duration(rng.Int63n(int64(2*time.Second)))
	case k == faultQuorumLoss:
		return 300*time.Millisecond + time.Duration(rng.Int63n(int64(1200*time.Millisecond)))
	default:
		return 300*time.Millisecond + time.Duration(rng.Int63n(int64(2700*time.Millisecond)))
	}
}

// ensureKinds makes sure every kind in required appears in plan, drawing
// the steps it replaces from rng, so that a single scenario covers them.
// A replaced step gets a hold drawn for its new kind, and the steps after
// it move by the difference, so that the gaps between faults stay.
// Coverage needs at least as many steps as kinds.
func ensureKinds(rng *rand.Rand, plan []fault, required []faultKind, longHolds ...faultKind) []fault {
	for _, k := range required {
		counts := map[faultKind]int{}
		for _, f := range plan {
			counts[f.Kind]++
		}
		if counts[k] > 0 {
			continue
		}
		var spare []int
		for i, f := range plan {
			if counts[f.Kind] > 1 {
				spare = append(spare, i)
			}
		}
		if len(spare) == 0 {
			break
		}
		i := spare[rng.Intn(len(spare))]
		plan[i].Kind = k
		hold := drawHold(rng, k, longHolds)
		for j := i + 1; j < len(plan); j++ {
			plan[j].At += hold - plan[i].Hold
		}
		plan[i].Hold = hold
	}
	return plan
}

// faultCounts counts faults by kind.
type faultCounts map[faultKind]int

func (c faultCounts) add(o faultCounts) {
	for k, n := range o {
		c[k] += n
	}
}

func (c faultCounts) total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

func (c faultCounts) String() string {
	var parts []string
	for k, n := range c {
		parts = append(parts, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}
