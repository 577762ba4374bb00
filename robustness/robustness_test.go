package robustness

import (
	"flag"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

var (
	flagSeed     = flag.Int64("seed", 0, "in-process level: run only this seed (replay)")
	flagRuns     = flag.Int("runs", 8, "in-process level: number of randomized runs (half with 3 managers, half with 5)")
	flagDuration = flag.Duration("duration", 15*time.Second, "in-process level: load and fault time per run")
	flagSoak     = flag.Duration("soak", 0, "TestSoak: run in-process seeds until this much time has passed")
	flagMPSeed   = flag.Int64("mp-seed", 0, "multi-process level: replay this seed")
	flagMPDur    = flag.Duration("mp-duration", 40*time.Second, "multi-process level: load and fault time")
	flagReports  = flag.String("reports", "reports", "directory of the reports written for failed runs")
	flagKeep     = flag.Bool("keep-reports", false, "write a report for every run, not only failed ones")
	flagFaults   = flag.String("faults", "", "comma-separated fault kinds to draw from instead of all (e.g. kill-leader,pause-leader)")
)

// onlyFaults returns the kinds -faults restricts schedules to.
func onlyFaults() []faultKind {
	var out []faultKind
	for _, k := range strings.Split(*flagFaults, ",") {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, faultKind(k))
		}
	}
	return out
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if s := totalsString(); s != "" {
		fmt.Println(s)
	}
	os.Exit(code)
}

// newSeed returns a fresh positive seed.
func newSeed() int64 { return time.Now().UnixNano()%1_000_000_000_000 + 1 }

// inProcessSeeds returns n seeds starting from base whose runs alternate
// between three and five managers (the seed decides the size).
func inProcessSeeds(base int64, n int) []int64 {
	var out []int64
	for s := base; len(out) < n; s++ {
		cfg, _ := inProcessConfig(s, *flagDuration)
		if want := 3 + 2*(len(out)%2); cfg.Managers == want {
			out = append(out, s)
		}
	}
	return out
}

// TestInProcess runs the in-process level: randomized runs with fresh
// seeds (printed), or the one given with -seed.
func TestInProcess(t *testing.T) {
	if *flagSeed != 0 {
		runSeed(t, *flagSeed)
		return
	}
	runs := *flagRuns
	if testing.Short() {
		runs = min(runs, 2)
	}
	for _, s := range inProcessSeeds(newSeed(), runs) {
		t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) { runSeed(t, s) })
	}
}

// TestSoak runs in-process seeds one after the other for -soak.
func TestSoak(t *testing.T) {
	if *flagSoak == 0 {
		t.Skip("set -soak=DURATION to soak")
	}
	end := time.Now().Add(*flagSoak)
	rng := rand.New(rand.NewSource(newSeed()))
	for time.Now().Before(end) {
		s := rng.Int63n(1_000_000_000_000) + 1
		t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) { runSeed(t, s) })
	}
}

func runSeed(t *testing.T, seed int64) {
	cfg, plan := inProcessConfig(seed, *flagDuration)
	t.Logf("seed %d: %d managers, %s forwarding, snapshot threshold %d, %d clients on %d services, %d faults planned",
		seed, cfg.Managers, cfg.Forwarder, cfg.SnapshotThreshold, cfg.Clients, cfg.Names, len(plan))
	start := time.Now()
	r := runInProcess(t, cfg, plan)
	addTotals(r, time.Since(start))
	finish(t, r)
}

// finish logs a run's summary, writes its report if it failed (or
// -keep-reports) and fails the test on any violation.
func finish(t *testing.T, r *runResult) {
	t.Log(r.summary())
	if len(r.Problems) > 0 || *flagKeep {
		if !r.hasInfo {
			_, r.linInfo = porcupine.CheckOperationsVerbose(registryModel, operations(r.History), linTimeout)
			r.hasInfo = true
		}
		dir, err := writeReport(*flagReports, r)
		if err != nil {
			t.Errorf("writing the report: %v", err)
		}
		t.Logf("report: %s", dir)
	}
	if len(r.Problems) > 0 {
		t.Errorf("%d guarantee violations; replay: %s", len(r.Problems), r.Replay)
	}
}
