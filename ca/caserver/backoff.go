package caserver

import (
	"container/list"
	"errors"
	"fmt"
	"sync"
	"time"
)

// BackoffConfig paces the sources of refused joins and renewals: after a
// refusal, a source (an IP address) must wait before its next attempt is
// even looked at, for a period that doubles with each refusal in a row.
// A token has 128 secret bits, so guessing is hopeless anyway; the backoff
// keeps a misconfigured or hostile client from costing the managers a read
// barrier and a log line per attempt, and makes a brute force visibly slow.
type BackoffConfig struct {
	// Base is the wait after the first refusal (1 s): a person who mistyped
	// a token and corrects it does not notice it, a script does.
	Base time.Duration
	// Max caps the wait (30 s): an honest node behind the same address as
	// an offender is delayed by at most that much.
	Max time.Duration
	// MaxSources bounds how many sources are remembered (10,000, about
	// 1 MB): past it the least recently refused one is forgotten, so a
	// flood from many addresses cannot grow the table without limit.
	MaxSources int
	// Forget is how long after its wait ends a source is forgotten if it
	// makes no further attempt (Max): its next refusal starts again at Base.
	Forget time.Duration
}

// DefaultBackoffConfig returns the configuration described on its fields.
func DefaultBackoffConfig() BackoffConfig {
	return BackoffConfig{Base: time.Second, Max: 30 * time.Second, MaxSources: 10000, Forget: 30 * time.Second}
}

// Validate reports a configuration that cannot work.
func (c BackoffConfig) Validate() error {
	var errs []error
	if c.Base <= 0 {
		errs = append(errs, errors.New("base must be positive"))
	}
	if c.Max < c.Base {
		errs = append(errs, errors.New("max must be at least base"))
	}
	if c.MaxSources < 1 {
		errs = append(errs, errors.New("max sources must be at least 1"))
	}
	if c.Forget < 0 {
		errs = append(errs, errors.New("forget must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("ca: invalid backoff config: %w", errors.Join(errs...))
	}
	return nil
}

// sourceBackoff remembers the refused sources, least recently refused
// first. It is safe for concurrent use.
type sourceBackoff struct {
	cfg BackoffConfig
	now func() time.Time

	mu      sync.Mutex
	sources map[string]*list.Element // of *refusedSource
	order   *list.List               // front: most recently refused
}

type refusedSource struct {
	addr     string
	refusals int       // in a row
	until    time.Time // no attempt is looked at before
}

func newSourceBackoff(cfg BackoffConfig, now func() time.Time) *sourceBackoff {
	return &sourceBackoff{cfg: cfg, now: now, sources: map[string]*list.Element{}, order: list.New()}
}

// wait returns how long src must still wait before an attempt, 0 if it
// may try now.
func (b *sourceBackoff) wait(src string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.sources[src]
	if !ok {
		return 0
	}
	rs := e.Value.(*refusedSource)
	now := b.now()
	if now.After(rs.until.Add(b.cfg.Forget)) {
		b.order.Remove(e)
		delete(b.sources, src)
		return 0
	}
	return max(rs.until.Sub(now), 0)
}

// refused records a refusal of src and returns the wait it now has.
func (b *sourceBackoff) refused(src string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	var rs *refusedSource
	if e, ok := b.sources[src]; ok {
		rs = e.Value.(*refusedSource)
		if now.After(rs.until.Add(b.cfg.Forget)) {
			rs.refusals = 0
		}
		b.order.MoveToFront(e)
	} else {
		for b.order.Len() >= b.cfg.MaxSources {
			oldest := b.order.Back()
			b.order.Remove(oldest)
			delete(b.sources, oldest.Value.(*refusedSource).addr)
		}
		rs = &refusedSource{addr: src}
		b.sources[src] = b.order.PushFront(rs)
	}
	rs.refusals++
	d := b.cfg.Base
	for i := 1; i < rs.refusals && d < b.cfg.Max; i++ {
		d *= 2
	}
	d = min(d, b.cfg.Max)
	rs.until = now.Add(d)
	return d
}

// succeeded forgets src: an accepted attempt resets its backoff.
func (b *sourceBackoff) succeeded(src string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.sources[src]; ok {
		b.order.Remove(e)
		delete(b.sources, src)
	}
}

// len is the number of sources remembered.
func (b *sourceBackoff) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.sources)
}
