package robustness

import (
	"context"
	"fmt"
	"math/rand"
	"sync"
	"time"
)

// history collects the calls of every client.
type history struct {
	mu    sync.Mutex
	start time.Time
	recs  []record
}

func newHistory() *history { return &history{start: time.Now()} }

func (h *history) since() time.Duration { return time.Since(h.start) }

func (h *history) add(r record) {
	h.mu.Lock()
	h.recs = append(h.recs, r)
	h.mu.Unlock()
}

func (h *history) records() []record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]record(nil), h.recs...)
}

// loadConfig shapes the clients' work.
type loadConfig struct {
	Clients     int
	Names       []string
	Image       string
	MaxReplicas uint64
	// OpTimeout bounds each call, as a CLI user's patience would.
	OpTimeout time.Duration
	// Think is the longest pause between two calls of a client.
	Think time.Duration
	// ReadEvery is how often each manager's prober sends a read without
	// waiting for the previous one (0: no probers); at most MaxProbes
	// are in flight per manager.
	ReadEvery time.Duration
	MaxProbes int
}

func serviceNames(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

// runLoad runs cfg.Clients clients until ctx ends; each call goes to a
// manager chosen at random among clients(). It returns when every client
// has finished its last call.
//
// Even clients send every call to a manager of their own (the one a CLI
// user's DOCKER_HOST names), odd ones to a manager drawn for each call.
// Besides them, a prober per manager keeps reads in flight: when a
// manager stalls, reads sent to it at every moment of the stall wait
// there, and those sent after a write was acknowledged elsewhere must see
// it once the manager wakes up, whatever it believes about its
// leadership.
func runLoad(ctx context.Context, seed int64, cfg loadConfig, clients []*apiClient, h *history) {
	var wg sync.WaitGroup
	for i := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs := clients
			if i%2 == 0 {
				cs = []*apiClient{clients[(i/2)%len(clients)]}
			}
			l := &loader{id: i, cfg: cfg, rng: rand.New(rand.NewSource(seed*1000 + int64(i))), clients: cs, h: h}
			l.run(ctx)
		}()
	}
	if cfg.ReadEvery > 0 {
		for i, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := cfg.Clients + i
				l := &loader{id: id, cfg: cfg, rng: rand.New(rand.NewSource(seed*1000 + int64(id))), clients: []*apiClient{c}, h: h}
				l.probe(ctx)
			}()
		}
	}
	wg.Wait()
}

// probe sends reads to one manager every cfg.ReadEvery, each without
// waiting for the others.
func (l *loader) probe(ctx context.Context) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, l.cfg.MaxProbes)
	defer wg.Wait()
	t := time.NewTicker(l.cfg.ReadEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		select {
		case sem <- struct{}{}:
		default:
			continue
		}
		name := l.cfg.Names[l.rng.Intn(len(l.cfg.Names))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			l.do(l.clients[0], svcInput{Kind: opRead, Name: name})
		}()
	}
}

type loader struct {
	id      int
	cfg     loadConfig
	rng     *rand.Rand
	clients []*apiClient
	h       *history
	seq     int
}

func (l *loader) pick() *apiClient { return l.clients[l.rng.Intn(len(l.clients))] }

func (l *loader) label() string {
	l.seq++
	return fmt.Sprintf("c%d.%d", l.id, l.seq)
}

// do makes one call and records it.
func (l *loader) do(c *apiClient, in svcInput) svcOutput {
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.OpTimeout)
	defer cancel()
	call := l.h.since()
	var out svcOutput
	switch in.Kind {
	case opRead:
		out = c.read(ctx, in.Name)
	case opCreate:
		out = c.create(ctx, in, l.cfg.Image)
	case opUpdate, opScale:
		out = c.update(ctx, in, l.cfg.Image)
	case opRemove:
		out = c.remove(ctx, in)
	}
	l.h.add(record{Client: l.id, Member: c.member, In: in, Out: out, Call: call, Return: l.h.since()})
	return out
}

func (l *loader) run(ctx context.Context) {
	for ctx.Err() == nil {
		name := l.cfg.Names[l.rng.Intn(len(l.cfg.Names))]
		p := l.rng.Float64()
		switch {
		case p < 0.30:
			l.do(l.pick(), svcInput{Kind: opRead, Name: name})
		case p < 0.45:
			l.do(l.pick(), svcInput{Kind: opCreate, Name: name, Replicas: uint64(l.rng.Intn(int(l.cfg.MaxReplicas) + 1)), Label: l.label()})
		case p < 0.92:
			// Read-modify-write, as `docker service update/scale` do: the
			// write names the version read. Reads and writes go through
			// different managers.
			r := l.do(l.pick(), svcInput{Kind: opRead, Name: name})
			if r.Outcome != outOK {
				break
			}
			in := svcInput{Name: name, ID: r.ID, Version: r.Version, Replicas: r.Replicas, Label: r.Label}
			switch {
			case p < 0.62:
				in.Kind, in.Label = opUpdate, l.label()
			case p < 0.84:
				in.Kind, in.Replicas = opScale, uint64(l.rng.Intn(int(l.cfg.MaxReplicas)+1))
			default:
				in = svcInput{Kind: opRemove, Name: name, ID: r.ID}
			}
			l.do(l.pick(), in)
		default:
			l.do(l.pick(), svcInput{Kind: opRemove, Name: name})
		}
		if l.cfg.Think > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(l.rng.Int63n(int64(l.cfg.Think)))):
			}
		}
	}
}
