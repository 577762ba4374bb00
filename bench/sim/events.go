package main

import (
	"context"
	"sync"
	"time"

	"github.com/docker/docker/api/types/events"

	"github.com/docker/docker/client"
	"github.com/shoal-dev/shoal/bench/internal/stats"
)

// eventWatch follows GET /events on a manager (a follower, as a dashboard
// would) for the whole benchmark and measures, for each event, its lag:
// when it arrived here minus the time of the command that made the change
// (the leader's clock: the managers run on this machine). Phases split
// the events by what the cluster was doing.
type eventWatch struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	phase  string
	phases []string
	lags   map[string]*stats.Sample
	counts map[string]map[string]int // phase -> "type action" -> n
	// perSecond counts the events that arrived in each second.
	perSecond map[int64]int
	err       error
}

func watchEvents(cl *client.Client) *eventWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &eventWatch{cancel: cancel, done: make(chan struct{}), lags: map[string]*stats.Sample{},
		counts: map[string]map[string]int{}, perSecond: map[int64]int{}}
	w.setPhase("setup")
	msgs, errs := cl.Events(ctx, events.ListOptions{})
	go func() {
		defer close(w.done)
		for {
			select {
			case m := <-msgs:
				now := time.Now()
				w.mu.Lock()
				w.lags[w.phase].AddDur(now.Sub(time.Unix(0, m.TimeNano)))
				w.counts[w.phase][string(m.Type)+" "+string(m.Action)]++
				w.perSecond[now.Unix()]++
				w.mu.Unlock()
			case err := <-errs:
				w.mu.Lock()
				if ctx.Err() == nil {
					w.err = err
				}
				w.mu.Unlock()
				return
			}
		}
	}()
	return w
}

// setPhase files the events from now on under name.
func (w *eventWatch) setPhase(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.phase = name
	if w.lags[name] == nil {
		w.phases = append(w.phases, name)
		w.lags[name] = &stats.Sample{}
		w.counts[name] = map[string]int{}
	}
}

func (w *eventWatch) stop() {
	w.cancel()
	<-w.done
}

// table reports the events per phase and their lag.
func (w *eventWatch) table() (*stats.Table, int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := stats.NewTable("phase", "events", "by kind", "lag p50", "lag p99", "lag max")
	for _, p := range w.phases {
		s := w.lags[p]
		if s.N() == 0 {
			t.Row(p, "0", "", "", "", "")
			continue
		}
		kinds := ""
		for k, n := range w.counts[p] {
			if kinds != "" {
				kinds += ", "
			}
			kinds += k + " " + stats.Num(float64(n))
		}
		t.Row(p, stats.Num(float64(s.N())), kinds, stats.Dur(stats.Seconds(s.Quantile(0.5))),
			stats.Dur(stats.Seconds(s.Quantile(0.99))), stats.Dur(stats.Seconds(s.Max())))
	}
	peak := 0
	for _, n := range w.perSecond {
		peak = max(peak, n)
	}
	return t, peak, w.err
}
