package scheduler

import (
	"strings"

	"github.com/shoal-dev/shoal/model"
)

// Pipeline runs filters in order over nodes for one task and counts, for
// each filter, the nodes it was the first to refuse, so that a task that
// fits nowhere can say why: "1 node not available for new tasks; 2 nodes
// insufficient memory".
//
// A Pipeline is not safe for concurrent use.
type Pipeline struct {
	stages []stage
}

type stage struct {
	filter   Filter
	capacity CapacityFilter // the filter itself if it is one, else nil
	enabled  bool
	refused  int // nodes this filter was the first to refuse
}

// NewPipeline returns a pipeline running the given filters in order, or
// DefaultFilters if none are given. The pipeline owns the filters.
func NewPipeline(filters ...Filter) *Pipeline {
	if len(filters) == 0 {
		filters = DefaultFilters()
	}
	p := &Pipeline{stages: make([]stage, len(filters))}
	for i, f := range filters {
		p.stages[i].filter = f
		p.stages[i].capacity, _ = f.(CapacityFilter)
	}
	return p
}

// SetTask prepares the filters for a task and clears the refusal counts.
func (p *Pipeline) SetTask(t *model.Task) {
	for i := range p.stages {
		s := &p.stages[i]
		s.enabled = s.filter.SetTask(t)
		s.refused = 0
	}
}

// Process tells whether node n can take the task. When it cannot, the
// first filter that refused it counts it.
func (p *Pipeline) Process(n *NodeInfo) bool {
	for i := range p.stages {
		s := &p.stages[i]
		if s.enabled && !s.filter.Check(n) {
			s.refused++
			return false
		}
	}
	return true
}

// Explain lists the refusals counted since SetTask, in filter order, such as
// "1 node not available for new tasks; 2 nodes insufficient memory". It is
// empty when no node was refused.
func (p *Pipeline) Explain() string {
	var b strings.Builder
	for _, s := range p.stages {
		if s.refused == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(s.filter.Explain(s.refused))
	}
	return b.String()
}

// noSuitableNode is the error of a task that fits nowhere, as Docker words
// it.
func noSuitableNode(explanation string) string {
	if explanation == "" {
		return "no suitable node"
	}
	return "no suitable node (" + explanation + ")"
}

// evaluate runs the filters over n without counting. It returns the index
// of the first filter that refuses n, or -1 and the number of tasks like
// the current one that n can take (unlimited when nothing limits it).
func (p *Pipeline) evaluate(n *NodeInfo) (refusedBy, room int) {
	room = unlimited
	for i := range p.stages {
		s := &p.stages[i]
		if !s.enabled {
			continue
		}
		if s.capacity == nil {
			if !s.filter.Check(n) {
				return i, 0
			}
			continue
		}
		c := s.capacity.Capacity(n)
		if c <= 0 {
			return i, 0
		}
		room = min(room, c)
	}
	return -1, room
}

// refusedAfter returns the first filter that would refuse n once it holds
// `placed` more tasks like the current one, or -1. Filters that are not
// capacity filters do not depend on the tasks on a node, so only a node
// that passed them all should be asked.
func (p *Pipeline) refusedAfter(n *NodeInfo, placed int) int {
	for i := range p.stages {
		s := &p.stages[i]
		if !s.enabled {
			continue
		}
		if s.capacity == nil {
			if !s.filter.Check(n) {
				return i
			}
			continue
		}
		if s.capacity.Capacity(n) <= placed {
			return i
		}
	}
	return -1
}
