package robustness

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// finalClient is the client number of the reads made after the faults,
// plus the index of the manager they go through.
const finalClient = 100

// linTimeout bounds porcupine's search per service name.
const linTimeout = 60 * time.Second

// runConfig is everything a seed decides about an in-process run.
type runConfig struct {
	Seed     int64
	Managers int
	// Forwarder is how followers reach the leader: "http" (the production
	// HTTPForwarder and /raft/v1 handlers) or "inmem" (rafttest's direct
	// calls).
	Forwarder string
	// SnapshotThreshold, if set, makes managers snapshot and compact
	// often, so that restarted ones catch up from snapshots.
	SnapshotThreshold uint64
	Clients           int
	Names             int
	MaxReplicas       uint64
	Duration          time.Duration
}

var (
	inProcessKinds3 = []faultKind{faultKillLeader, faultKillFollower, faultRestart, faultPartitionLeader,
		faultPartitionFollower, faultIsolate, faultPause, faultPauseLeader, faultQuorumLoss, faultRestartLeaderCut}
	inProcessKinds5 = append(append([]faultKind(nil), inProcessKinds3...), faultKillMinority, faultBridge)
)

// inProcessConfig derives a run's configuration and fault schedule from
// its seed.
func inProcessConfig(seed int64, duration time.Duration) (runConfig, []fault) {
	rng := rand.New(rand.NewSource(seed))
	c := runConfig{Seed: seed, Duration: duration, Managers: 3, Forwarder: "http", MaxReplicas: 3}
	if rng.Intn(2) == 1 {
		c.Managers = 5
	}
	if rng.Intn(4) == 0 {
		c.Forwarder = "inmem"
	}
	if rng.Intn(2) == 0 {
		c.SnapshotThreshold = uint64(64 + rng.Intn(192))
	}
	c.Clients = 4 + rng.Intn(3)
	c.Names = 3 + rng.Intn(3)
	kinds := inProcessKinds3
	if c.Managers == 5 {
		kinds = inProcessKinds5
	}
	if only := onlyFaults(); len(only) > 0 {
		kinds = only
	}
	return c, planFaults(rng, kinds, duration)
}

// runInProcess runs one seed of the in-process level: cluster, agents,
// load and faults, then the checks.
func runInProcess(t *testing.T, cfg runConfig, plan []fault) *runResult {
	h := newHistory()
	events := &eventLog{start: h.start}
	r := &runResult{Level: "inprocess", Seed: cfg.Seed, Config: cfg, Plan: plan, Faults: faultCounts{},
		Replay: fmt.Sprintf("go test ./robustness/ -run 'TestInProcess$' -seed=%d -duration=%v", cfg.Seed, cfg.Duration)}
	c := newIPCluster(t, cfg, events)
	agents := startAgents(c, cfg.Seed)
	names := serviceNames("svc", cfg.Names)
	var clients []*apiClient
	for _, m := range c.members {
		clients = append(clients, m.client)
	}
	// The final reads go through every member that can still run.
	finalClients := func() []*apiClient {
		var out []*apiClient
		for _, m := range c.members {
			if !m.isWedged() {
				out = append(out, m.client)
			}
		}
		return out
	}
	events.add("cluster up: %d managers, load starts", cfg.Managers)

	loadCtx, stopLoad := context.WithCancel(context.Background())
	loadDone := make(chan struct{})
	lc := loadConfig{Clients: cfg.Clients, Names: names, Image: "shoal/demoapp:test", MaxReplicas: cfg.MaxReplicas,
		OpTimeout: 12 * time.Second, Think: 20 * time.Millisecond, ReadEvery: 300 * time.Millisecond, MaxProbes: 8}
	go func() {
		defer close(loadDone)
		runLoad(loadCtx, cfg.Seed, lc, clients, h)
	}()

	loadStart := time.Now()
	for _, f := range plan {
		time.Sleep(time.Until(loadStart.Add(f.At)))
		desc, heal, err := c.inject(f)
		if err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("injecting %s: %v", f.Kind, err))
		}
		r.Faults[f.Kind]++
		events.add("FAULT %s: %s", f.Kind, desc)
		time.Sleep(f.Hold)
		heal()
		events.add("healed %s", f.Kind)
	}
	time.Sleep(time.Until(loadStart.Add(cfg.Duration)))
	c.healAll()
	stopLoad()
	<-loadDone
	events.add("load stopped, every fault healed")

	if c.leader(15*time.Second) == nil {
		r.Problems = append(r.Problems, "no leader 15 s after every fault was healed")
	}
	reads := finalReads(finalClients(), names, h, 30*time.Second)
	r.History = h.records()
	checkHistory(r, reads)
	events.add("history checked: %s", r.Lin)

	var tasks []taskView
	problems := waitFor(30*time.Second, func() []string {
		svcs, ts, err := c.readState()
		if err != nil {
			return []string{"reading the state: " + err.Error()}
		}
		tasks = ts
		return convergenceProblems(svcs, ts)
	})
	for _, p := range problems {
		r.Problems = append(r.Problems, "tasks did not converge within 30 s: "+p)
	}
	if !within(10*time.Second, agents.stop) {
		c.noteHung("the simulated agents did not stop within 10 s (an agent stuck in Propose)")
	}
	events.add("tasks checked, agents stopped")
	if len(problems) == 0 {
		r.Problems = append(r.Problems, agents.containerProblems(tasks)...)
	}
	r.Problems = append(r.Problems, c.compareStores(20*time.Second)...)
	r.Problems = append(r.Problems, c.terms.conflicts()...)
	r.Leaderships = 0
	c.terms.mu.Lock()
	for _, ids := range c.terms.leaders {
		r.Leaderships += len(ids)
	}
	c.terms.mu.Unlock()
	r.Terms = c.terms.String()
	events.add("stores compared")
	c.shutdown()
	events.add("cluster stopped")
	hung := append(c.hung, c.hn.stuck(15*time.Second)...)
	for _, h := range hung {
		regressionOf(r, "TestBugProposeHangsAfterShutdown", h)
	}
	r.Events = events.all()
	r.Logs = map[string]string{}
	for _, m := range c.members {
		r.Logs[m.id] = m.log.String()
	}
	r.count()
	if r.Acked == 0 {
		r.Problems = append(r.Problems, "no write was acknowledged: the load tested nothing")
	}
	return r
}

// regressionOf records a symptom of a bug the suite found before, with
// the scenario test that reproduces it.
func regressionOf(r *runResult, test, symptom string) {
	r.Problems = append(r.Problems, fmt.Sprintf("%s (the bug of %s is back?)", symptom, test))
}

// waitFor polls check until it reports nothing or timeout passes, and
// returns its last report.
func waitFor(timeout time.Duration, check func() []string) []string {
	deadline := time.Now().Add(timeout)
	for {
		p := check()
		if len(p) == 0 || time.Now().After(deadline) {
			return p
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// finalReads reads every name through every manager once the faults are
// healed, retrying calls that get no answer. The reads join the history:
// a write acknowledged earlier that they do not see is a lost write.
func finalReads(clients []*apiClient, names []string, h *history, timeout time.Duration) map[string]map[string]svcOutput {
	out := map[string]map[string]svcOutput{}
	deadline := time.Now().Add(timeout)
	for i, c := range clients {
		for _, name := range names {
			if out[name] == nil {
				out[name] = map[string]svcOutput{}
			}
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				call := h.since()
				o := c.read(ctx, name)
				cancel()
				h.add(record{Client: finalClient + i, Member: c.member, In: svcInput{Kind: opRead, Name: name}, Out: o, Call: call, Return: h.since()})
				if o.Outcome == outOK || o.Code == codeNotFound || time.Now().After(deadline) {
					out[name][c.member] = o
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	return out
}

// checkHistory checks the history against the registry model, finds lost
// writes and notes the answers the API calls bugs.
func checkHistory(r *runResult, reads map[string]map[string]svcOutput) {
	final, problems := finalStates(reads)
	for _, p := range problems {
		r.Problems = append(r.Problems, "managers disagree at the end: "+p)
	}
	for name, byMember := range reads {
		for m, o := range byMember {
			if o.Outcome != outOK && o.Code != codeNotFound {
				r.Problems = append(r.Problems, fmt.Sprintf("final read of %s through %s got no answer: %s", name, m, describeOutput(o)))
			}
		}
	}
	lost := lostWrites(r.History, final)
	r.Lost = len(lost)
	for _, w := range lost {
		r.Problems = append(r.Problems, "acknowledged write lost: "+w.String())
	}
	ops := operations(r.History)
	parts := registryModel.Partition(ops)
	r.Lin = porcupine.Ok
	for _, part := range parts {
		switch porcupine.CheckOperationsTimeout(registryModel, part, linTimeout) {
		case porcupine.Illegal:
			r.LinViolations++
			r.Lin = porcupine.Illegal
			r.Problems = append(r.Problems, fmt.Sprintf("history of %s is not linearizable (%d calls); see linearizability.html and violations.txt",
				part[0].Input.(svcInput).Name, len(part)))
			r.Explained = append(r.Explained, fmt.Sprintf("== %s\n%s", part[0].Input.(svcInput).Name, explainViolation(part, linTimeout)))
		case porcupine.Unknown:
			if r.Lin == porcupine.Ok {
				r.Lin = porcupine.Unknown
			}
			r.Notes = append(r.Notes, fmt.Sprintf("linearizability of %s not decided within %v", part[0].Input.(svcInput).Name, linTimeout))
		}
	}
	if r.Lin == porcupine.Illegal {
		_, r.linInfo = porcupine.CheckOperationsVerbose(registryModel, ops, linTimeout)
		r.hasInfo = true
	}
	anomalies := map[string]int{}
	for _, h := range r.History {
		if h.Out.Code == codeExists {
			r.Problems = append(r.Problems, "a create was applied twice (its fresh ID already existed): "+h.String())
		}
		if anomalous(h.Out) {
			anomalies[fmt.Sprintf("%s answered %d: %s", h.In.Kind, h.Out.Status, truncate(h.Out.Msg, 160))]++
		}
	}
	var keys []string
	for k := range anomalies {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		msg := fmt.Sprintf("%dx %s", anomalies[k], k)
		switch {
		case strings.Contains(k, "answered 500: raft: apply: leadership transfer in progress"):
			regressionOf(r, "TestBugLeadershipTransferAnswers500", msg)
		case strings.Contains(k, "answered 500: forwarding to "):
			regressionOf(r, "TestBugForwardedConnectionLostAnswers500", msg)
		default:
			// The API answers 500 only for bugs, and this load sends
			// nothing it should refuse with 400.
			r.Problems = append(r.Problems, "unexpected answer: "+msg)
		}
	}
}
