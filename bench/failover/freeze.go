package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/bench/internal/benchmain"
	"github.com/shoal-dev/shoal/bench/internal/cluster"
	"github.com/shoal-dev/shoal/bench/internal/stats"
	"github.com/shoal-dev/shoal/internal/proctest"
)

// freezeRuns measures -freeze: SIGSTOP of the leader while one client
// writes through a follower.
// The first write is op: "create" (a service create, forwarded to the
// frozen leader; it answers "write outcome unknown" once the new leader is
// known, since a create is not sent twice: another client could delete the
// service between the two) or "rm" (a service
// removal by name: the API first looks the name up after a read barrier,
// and it is the barrier that meets the frozen leader; it is asked again of
// the new leader, which then takes the removal).
func freezeRuns(r *proctest.Runner, c *cluster.Cluster, runs int, raftProfile, op string) {
	var sFirst, sOK, sLeader, sAfter stats.Sample
	outcomes := map[string]int{}
	for run := range runs {
		c.WaitReachable(60 * time.Second)
		old := c.Leader()
		via := c.Followers(old)[0]
		before := fmt.Sprintf("before-%d", run)
		if err := create(c, via, before, 10*time.Second); err != nil {
			r.Fatalf("run %d: write before the freeze: %v", run+1, err)
		}
		time.Sleep(500 * time.Millisecond)

		old.Pause()
		frozen := time.Now()
		var first, ok time.Duration
		var outcome string
		for i := 0; ok == 0 && time.Since(frozen) < 120*time.Second; i++ {
			var err error
			if i == 0 && op == "rm" {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				err = c.Client(via).ServiceRemove(ctx, before)
				cancel()
			} else {
				err = create(c, via, fmt.Sprintf("frozen-%d-%d", run, i), 60*time.Second)
			}
			at := time.Since(frozen)
			if i == 0 {
				first, outcome = at, describe(err)
				outcomes[outcome]++
			}
			if err == nil {
				ok = at
			}
		}
		leaderAt := electedAfter(c.Followers(old), frozen)
		old.Resume()
		if ok == 0 {
			r.Fatalf("run %d: no write succeeded within 120 s of freezing the leader %s", run+1, old.Name)
		}
		sFirst.AddDur(first)
		sOK.AddDur(ok)
		if leaderAt > 0 {
			sLeader.AddDur(leaderAt)
			sAfter.AddDur(max(ok-leaderAt, 0))
		}
		benchmain.Logf("run %d: froze leader %s; new leader elected after %v; the write in flight through %s answered after %v (%s); first successful write after %v",
			run+1, old.Name, leaderAt.Round(time.Millisecond), via.Name, first.Round(time.Millisecond), outcome, ok.Round(time.Millisecond))
	}
	c.WaitReachable(60 * time.Second)

	fmt.Printf("\n## failover: SIGSTOP of the leader of 3 managers, one client writing through a follower (first write: %s), %d runs, --raft-profile %s\n\n", op, runs, raftProfile)
	t := stats.NewTable("metric", "median", "min..max", "p90")
	p90 := func(s *stats.Sample) string { return stats.Dur(stats.Seconds(s.Quantile(0.9))) }
	t.Row("freeze -> new leader elected (its log)", stats.Dur(sLeader.MedianDur()), sLeader.SpreadDur(), p90(&sLeader))
	t.Row("freeze -> write in flight answered", stats.Dur(sFirst.MedianDur()), sFirst.SpreadDur(), p90(&sFirst))
	t.Row("freeze -> first successful write", stats.Dur(sOK.MedianDur()), sOK.SpreadDur(), p90(&sOK))
	t.Row("new leader -> first successful write", stats.Dur(sAfter.MedianDur()), sAfter.SpreadDur(), p90(&sAfter))
	t.Print(os.Stdout)
	var parts []string
	for o, n := range outcomes {
		parts = append(parts, fmt.Sprintf("%s: %d", o, n))
	}
	fmt.Printf("\nthe write in flight at the freeze: %s\n", strings.Join(parts, ", "))
}

// describe names a write's outcome for the report.
func describe(err error) string {
	switch {
	case err == nil:
		return "ok"
	case strings.Contains(err.Error(), "write outcome unknown"):
		return "outcome unknown"
	case errors.Is(err, os.ErrDeadlineExceeded), strings.Contains(err.Error(), "deadline exceeded"):
		return "client timeout"
	}
	return err.Error()
}
