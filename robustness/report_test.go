package robustness

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// runResult is what one run did and found.
type runResult struct {
	Level    string
	Seed     int64
	Config   any
	Replay   string
	Plan     []fault
	Events   []string
	History  []record
	Faults   faultCounts
	Terms    string
	Problems []string // guarantee violations: the run fails
	Notes    []string // anomalies worth a look that break no guarantee
	// Explained says where each non-linearizable history goes wrong.
	Explained []string
	Logs      map[string]string
	Lin       porcupine.CheckResult
	linInfo   porcupine.LinearizationInfo
	hasInfo   bool

	Ops, Acked, FailedOps, Unknown, Lost, LinViolations int
	Leaderships                                         int
}

// count counts the load's calls (the final reads aside) and the outcomes
// of its writes.
func (r *runResult) count() {
	for _, h := range r.History {
		if h.Client >= finalClient {
			continue
		}
		r.Ops++
		if !h.In.Kind.isWrite() {
			continue
		}
		switch h.Out.Outcome {
		case outOK:
			r.Acked++
		case outFailed:
			r.FailedOps++
		case outUnknown:
			r.Unknown++
		}
	}
}

func (r *runResult) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s seed %d: %d calls, %d writes acknowledged, %d failed, %d unknown; lost %d; linearizability %s (%d violations); %d faults (%s); %d leaderships observed\n",
		r.Level, r.Seed, r.Ops, r.Acked, r.FailedOps, r.Unknown, r.Lost, r.Lin, r.LinViolations, r.Faults.total(), r.Faults, r.Leaderships)
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  VIOLATION: %s\n", p)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	fmt.Fprintf(&b, "  replay: %s\n", r.Replay)
	return b.String()
}

// writeReport writes the run's report directory: the seed and replay
// command, the fault schedule and what the harness did, the history, the
// linearizability visualization, and each manager's log.
func writeReport(base string, r *runResult) (string, error) {
	dir := filepath.Join(base, fmt.Sprintf("%s-%d", r.Level, r.Seed))
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return "", err
	}
	write := func(name, content string) error {
		return os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
	}
	cfg, _ := json.MarshalIndent(r.Config, "", "  ")
	var errs []error
	errs = append(errs, write("summary.txt", r.summary()+"\nconfig:\n"+string(cfg)+"\n"))
	var plan strings.Builder
	for _, f := range r.Plan {
		plan.WriteString(f.String() + "\n")
	}
	errs = append(errs, write("schedule.txt", plan.String()))
	errs = append(errs, write("events.txt", strings.Join(r.Events, "\n")+"\n"))
	errs = append(errs, write("terms.txt", r.Terms))
	if len(r.Explained) > 0 {
		errs = append(errs, write("violations.txt", strings.Join(r.Explained, "\n")))
	}
	hist := append([]record(nil), r.History...)
	sort.SliceStable(hist, func(i, j int) bool { return hist[i].Call < hist[j].Call })
	var h strings.Builder
	for _, rec := range hist {
		h.WriteString(rec.String() + "\n")
	}
	errs = append(errs, write("history.txt", h.String()))
	hj, _ := json.MarshalIndent(hist, "", " ")
	errs = append(errs, write("history.json", string(hj)))
	for name, l := range r.Logs {
		errs = append(errs, write(filepath.Join("logs", name+".log"), l))
	}
	if r.hasInfo {
		errs = append(errs, porcupine.VisualizePath(registryModel, r.linInfo, filepath.Join(dir, "linearizability.html")))
	}
	for _, err := range errs {
		if err != nil {
			return dir, err
		}
	}
	return dir, nil
}

// totals add up every run of the test binary, printed at the end.
var totals = struct {
	sync.Mutex
	runs                                     map[string]int
	faults                                   faultCounts
	ops, acked, failed, unknown, lost, viols int
	leaderships                              int
	elapsed                                  time.Duration
}{runs: map[string]int{}, faults: faultCounts{}}

func addTotals(r *runResult, elapsed time.Duration) {
	totals.Lock()
	defer totals.Unlock()
	totals.runs[r.Level]++
	totals.faults.add(r.Faults)
	totals.ops += r.Ops
	totals.acked += r.Acked
	totals.failed += r.FailedOps
	totals.unknown += r.Unknown
	totals.lost += r.Lost
	totals.viols += r.LinViolations
	totals.leaderships += r.Leaderships
	totals.elapsed += elapsed
}

func totalsString() string {
	totals.Lock()
	defer totals.Unlock()
	n := 0
	for _, v := range totals.runs {
		n += v
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("robustness totals: %d runs %v in %v; %d faults injected (%s); %d calls, %d writes acknowledged, %d failed, %d unknown; lost %d; linearizability violations %d; %d leaderships observed",
		n, totals.runs, totals.elapsed.Round(time.Second), totals.faults.total(), totals.faults, totals.ops, totals.acked, totals.failed, totals.unknown,
		totals.lost, totals.viols, totals.leaderships)
}
