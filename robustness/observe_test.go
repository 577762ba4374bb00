package robustness

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	hraft "github.com/hashicorp/raft"
)

// memLog is a member's log, kept in memory for the report.
type memLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *memLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *memLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// eventLog records what the harness did (faults, heals, phases), with
// times on the history's clock.
type eventLog struct {
	mu    sync.Mutex
	start time.Time
	lines []string
}

func (e *eventLog) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lines = append(e.lines, fmt.Sprintf("%9.3fs ", time.Since(e.start).Seconds())+fmt.Sprintf(format, args...))
}

func (e *eventLog) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.lines...)
}

// termLog records which managers acted as leader in which Raft term. Raft
// allows at most one per term.
type termLog struct {
	mu      sync.Mutex
	leaders map[uint64][]string
}

func newTermLog() *termLog { return &termLog{leaders: map[uint64][]string{}} }

func (l *termLog) observe(term uint64, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !slices.Contains(l.leaders[term], id) {
		l.leaders[term] = append(l.leaders[term], id)
	}
}

// terms returns how many terms had a leader.
func (l *termLog) terms() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.leaders)
}

// conflicts describes the terms with more than one leader.
func (l *termLog) conflicts() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for term, ids := range l.leaders {
		if len(ids) > 1 {
			out = append(out, fmt.Sprintf("term %d had %d leaders: %s", term, len(ids), strings.Join(ids, ", ")))
		}
	}
	sort.Strings(out)
	return out
}

func (l *termLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var terms []uint64
	for t := range l.leaders {
		terms = append(terms, t)
	}
	slices.Sort(terms)
	var b strings.Builder
	for _, t := range terms {
		fmt.Fprintf(&b, "term %d: %s\n", t, strings.Join(l.leaders[t], ", "))
	}
	return b.String()
}

// observedTransport is a member's Raft transport that records the term of
// every AppendEntries it sends: only a leader sends them, so two senders
// in one term are two leaders in one term, whether or not anybody
// noticed.
type observedTransport struct {
	*hraft.InmemTransport
	id    string
	terms *termLog
}

func (t *observedTransport) AppendEntries(id hraft.ServerID, target hraft.ServerAddress, args *hraft.AppendEntriesRequest, resp *hraft.AppendEntriesResponse) error {
	t.terms.observe(args.Term, t.id)
	return t.InmemTransport.AppendEntries(id, target, args, resp)
}

func (t *observedTransport) AppendEntriesPipeline(id hraft.ServerID, target hraft.ServerAddress) (hraft.AppendPipeline, error) {
	p, err := t.InmemTransport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	return &observedPipeline{AppendPipeline: p, t: t}, nil
}

type observedPipeline struct {
	hraft.AppendPipeline
	t *observedTransport
}

func (p *observedPipeline) AppendEntries(args *hraft.AppendEntriesRequest, resp *hraft.AppendEntriesResponse) (hraft.AppendFuture, error) {
	p.t.terms.observe(args.Term, p.t.id)
	return p.AppendPipeline.AppendEntries(args, resp)
}

var (
	_ hraft.Transport   = (*observedTransport)(nil)
	_ hraft.WithClose   = (*observedTransport)(nil)
	_ hraft.WithPreVote = (*observedTransport)(nil)
)
