package robustness

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/internal/proctest"
)

// The freeze-the-leader-while-writing check (issue 21): a leader stopped
// with SIGSTOP keeps its connections open and answers nothing, and a
// write a follower forwarded to it used to wait for the API's 30 s
// deadline. Each SIGSTOP of the leader in the multi-process level
// (freeze-leader, pause-leader, a pause that hits the leader) starts a
// freezeProbe: right after the SIGSTOP, one client writes through a
// follower, one write at a time (the first is forwarded to the frozen
// leader), until a write succeeds. While the leader is still frozen,
// writes must be available again within freezeBound of the election of a
// new leader (a SIGCONT sooner ends the measurement: the woken leader
// answers what it holds, which is why freeze-leader holds 4 to 6 s); and
// every write the probe saw acknowledged must be in the final state.

// freezeBound is the longest writes may stay unavailable after a new
// leader is elected while the old one is frozen.
const freezeBound = 2 * time.Second

// freezeProbeFor is how long a probe writes before it gives up.
const freezeProbeFor = 20 * time.Second

// freezeProbe measures one SIGSTOP of the leader.
type freezeProbe struct {
	leader, via string
	frozenAt    time.Time
	// thawedAt is when the leader got SIGCONT (set by the fault's heal).
	thawedAt time.Time

	done chan struct{}
	// Set by the probe's goroutines before done is closed.
	electedAt time.Time // zero if no new leader was seen
	elected   string
	first     probeWrite // the write in flight at the freeze
	firstOK   time.Time  // zero if no write succeeded
	acked     []string   // names of the services created with an ack
}

// probeWrite is one of a probe's writes.
type probeWrite struct {
	name       string
	start, end time.Time
	status     int
	msg        string
}

// startFreezeProbe starts the probe of leader, frozen at frozenAt in
// term, writing through via. names makes the services' names.
func (c *mpCluster) startFreezeProbe(leader, via *proctest.Node, term uint64, frozenAt time.Time, names string) *freezeProbe {
	p := &freezeProbe{leader: leader.Name, via: via.Name, frozenAt: frozenAt, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		c.watchElection(p, leader, term)
	}()
	go func() {
		defer wg.Done()
		cl := c.clients[via.Name]
		for i := 0; time.Since(frozenAt) < freezeProbeFor; i++ {
			w := probeWrite{name: fmt.Sprintf("%s-%d", names, i), start: time.Now()}
			ctx, cancel := context.WithTimeout(context.Background(), 2*freezeProbeFor)
			a := cl.call(ctx, http.MethodPost, "/services/create", serviceSpec(w.name, 0, "freeze-probe", c.image))
			cancel()
			w.end, w.status, w.msg = time.Now(), a.status, a.message()
			if i == 0 {
				p.first = w
			}
			if a.err == nil && a.status == http.StatusCreated {
				p.acked = append(p.acked, w.name)
				p.firstOK = w.end
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	go func() {
		wg.Wait()
		close(p.done)
	}()
	return p
}

// watchElection polls the managers other than the frozen leader until one
// leads in a term after term.
func (c *mpCluster) watchElection(p *freezeProbe, frozen *proctest.Node, term uint64) {
	for time.Since(p.frozenAt) < freezeProbeFor {
		for _, m := range c.managers {
			if m == frozen || !m.Running() {
				continue
			}
			if leader, t, _, err := c.raftStatus(m); err == nil && leader && t > term {
				p.electedAt, p.elected = time.Now(), m.Name
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// problems checks the probe once it is done: writes available again within
// freezeBound of the election.
func (p *freezeProbe) problems() (problems []string, summary string) {
	<-p.done
	since := func(t time.Time) string { return t.Sub(p.frozenAt).Round(time.Millisecond).String() }
	outcome := "ok"
	if p.first.status != http.StatusCreated {
		outcome = fmt.Sprintf("%d %s", p.first.status, p.first.msg)
	}
	summary = fmt.Sprintf("freeze probe, SIGSTOP %s, writes through %s: the write in flight answered after %s (%s)",
		p.leader, p.via, since(p.first.end), outcome)
	if p.electedAt.IsZero() {
		// Healed before an election: the old leader still leads, and
		// nothing is measured.
		return nil, summary + "; no new leader elected while it was frozen"
	}
	summary += fmt.Sprintf("; %s elected after %s", p.elected, since(p.electedAt))
	// Writes are judged unavailable until the first success, or until the
	// SIGCONT if that came first: the woken leader answers what it holds.
	end, until := p.firstOK, "a write succeeded"
	if end.IsZero() {
		end, until = p.frozenAt.Add(freezeProbeFor), "the probe gave up"
	}
	if !p.thawedAt.IsZero() && p.thawedAt.Before(end) {
		end, until = p.thawedAt, "SIGCONT"
	}
	if !p.firstOK.IsZero() {
		summary += fmt.Sprintf("; first write ok after %s", since(p.firstOK))
	}
	// The election is seen by polling every 20 ms: a write may beat it.
	after := max(end.Sub(p.electedAt), 0)
	summary += fmt.Sprintf("; unavailable for %v after the election (until %s)", after.Round(time.Millisecond), until)
	if after > freezeBound {
		problems = append(problems, fmt.Sprintf("writes through %s unavailable for %v after a new leader (%s) was elected while the leader %s was frozen (until %s), bound %v; the write in flight answered after %s: %s",
			p.via, after.Round(time.Millisecond), p.elected, p.leader, until, freezeBound, since(p.first.end), outcome))
	}
	return problems, summary
}

// checkFreezeProbes waits for every probe, checks it, and checks that each
// write a probe saw acknowledged is read through every manager.
func (c *mpCluster) checkFreezeProbes(r *runResult) {
	for _, p := range c.probes {
		problems, summary := p.problems()
		c.events.add("%s", summary)
		c.t.Log(summary)
		r.Problems = append(r.Problems, problems...)
		for _, name := range p.acked {
			for _, cl := range c.apiClients() {
				var svc struct{ ID string }
				if err := c.get(context.Background(), cl, "/services/"+name, &svc); err != nil {
					r.Problems = append(r.Problems, fmt.Sprintf("acknowledged freeze-probe write lost: service %s through %s: %v",
						name, cl.member, strings.TrimSpace(err.Error())))
				}
			}
		}
	}
}
