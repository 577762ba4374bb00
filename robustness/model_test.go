package robustness

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// The history of one run: every call a client made, with when it started,
// when its answer came and what the answer was, checked against a model of
// the service registry.

// opKind is what a client asked.
type opKind string

// Operations of the load. Update and scale are both read-modify-writes of
// a service at the version the client read: update changes a label, scale
// the replica count; the model treats them alike.
const (
	opRead   opKind = "read"
	opCreate opKind = "create"
	opUpdate opKind = "update"
	opScale  opKind = "scale"
	opRemove opKind = "remove"
)

func (k opKind) isWrite() bool { return k != opRead }

// outcome classifies an answer.
type outcome string

// Outcomes. A failed write definitely did not apply; an unknown one may
// have applied, at any time after its call, or never.
const (
	outOK      outcome = "ok"
	outFailed  outcome = "failed"
	outUnknown outcome = "unknown"
)

// Codes of failed calls. Only notFound, sequence and nameConflict carry
// information about the state; the others only say that nothing happened.
const (
	codeNotFound     = "not_found"
	codeSequence     = "sequence"
	codeNameConflict = "name_conflict"
	codeNoQuorum     = "no_quorum"
	codeNotSent      = "not_sent"
	codeRefused      = "refused" // 400 and other answers that apply nothing
	codeExists       = "exists"  // an unknown outcome: see classify
)

// svcInput is a call on the registry.
type svcInput struct {
	Kind opKind `json:"kind"`
	Name string `json:"name"`
	// ID names the service instance an update or remove targets (the
	// client read it); empty for a remove by name.
	ID string `json:"id,omitempty"`
	// Version is the version an update was read at.
	Version  uint64 `json:"version,omitempty"`
	Replicas uint64 `json:"replicas"`
	Label    string `json:"label,omitempty"`
}

// svcOutput is its answer.
type svcOutput struct {
	Outcome outcome `json:"outcome"`
	Code    string  `json:"code,omitempty"`
	// ID is the created service's ID (create) or the one read (read).
	ID       string `json:"id,omitempty"`
	Version  uint64 `json:"version,omitempty"`
	Replicas uint64 `json:"replicas,omitempty"`
	Label    string `json:"label,omitempty"`
	// Status and Msg are the HTTP answer, or Msg the transport error.
	Status int    `json:"status,omitempty"`
	Msg    string `json:"msg,omitempty"`
}

// record is one call of the history.
type record struct {
	Client int           `json:"client"`
	Member string        `json:"member"`
	In     svcInput      `json:"in"`
	Out    svcOutput     `json:"out"`
	Call   time.Duration `json:"call"`
	Return time.Duration `json:"return"`
}

func (r record) String() string {
	return fmt.Sprintf("%9.3fs %9.3fs c%-2d %-6s %s -> %s", r.Call.Seconds(), r.Return.Seconds(), r.Client, r.Member,
		describeInput(r.In), describeOutput(r.Out))
}

func describeInput(in svcInput) string {
	switch in.Kind {
	case opRead:
		return fmt.Sprintf("read(%s)", in.Name)
	case opCreate:
		return fmt.Sprintf("create(%s, r=%d, l=%s)", in.Name, in.Replicas, in.Label)
	case opUpdate, opScale:
		return fmt.Sprintf("%s(%s, id=%s, v=%d, r=%d, l=%s)", in.Kind, in.Name, short(in.ID), in.Version, in.Replicas, in.Label)
	case opRemove:
		if in.ID != "" {
			return fmt.Sprintf("remove(%s, id=%s)", in.Name, short(in.ID))
		}
		return fmt.Sprintf("remove(%s)", in.Name)
	}
	return string(in.Kind)
}

func describeOutput(out svcOutput) string {
	switch {
	case out.Outcome == outOK && out.Version != 0:
		return fmt.Sprintf("ok{id=%s v=%d r=%d l=%s}", short(out.ID), out.Version, out.Replicas, out.Label)
	case out.Outcome == outOK && out.ID != "":
		return fmt.Sprintf("ok{id=%s}", short(out.ID))
	case out.Outcome == outOK:
		return "ok"
	}
	s := string(out.Outcome)
	if out.Code != "" {
		s += ":" + out.Code
	}
	if out.Msg != "" {
		s += fmt.Sprintf(" (%d %s)", out.Status, truncate(out.Msg, 120))
	}
	return s
}

func short(id string) string {
	if len(id) > 6 {
		return id[:6]
	}
	return id
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// regState is the model's state of one service name. Versions are Raft
// indexes the clients cannot predict: a write leaves the version unbound
// (0), known only to be above Floor, and the next read binds it. An
// instance created with an unknown outcome has an unbound ID the same way.
// A write naming a version or ID can only have come from a read, so it
// never matches an unbound one.
type regState struct {
	Exists   bool
	ID       string
	Version  uint64
	Floor    uint64
	Replicas uint64
	Label    string
	// Dead lists the IDs of removed instances ("|id|id|"): a read must
	// never return one.
	Dead string
}

func (s regState) String() string {
	if !s.Exists {
		return fmt.Sprintf("absent (floor %d)", s.Floor)
	}
	id, v := short(s.ID), fmt.Sprint(s.Version)
	if s.ID == "" {
		id = "?"
	}
	if s.Version == 0 {
		v = fmt.Sprintf(">%d", s.Floor)
	}
	return fmt.Sprintf("{id=%s v=%s r=%d l=%s}", id, v, s.Replicas, s.Label)
}

// matches tells whether a write naming id and version applies to s.
func (s regState) matches(in svcInput, checkVersion bool) bool {
	if !s.Exists || (in.ID != "" && s.ID != in.ID) {
		return false
	}
	return !checkVersion || (s.Version != 0 && s.Version == in.Version)
}

func (s regState) created(in svcInput, id string) regState {
	return regState{Exists: true, ID: id, Floor: max(s.Floor, s.Version), Replicas: in.Replicas, Label: in.Label, Dead: s.Dead}
}

func (s regState) updated(in svcInput) regState {
	n := s
	n.Floor, n.Version = max(s.Floor, s.Version), 0
	n.Replicas, n.Label = in.Replicas, in.Label
	return n
}

func (s regState) removed() regState {
	n := regState{Floor: max(s.Floor, s.Version), Dead: s.Dead}
	if s.ID != "" {
		n.Dead += "|" + s.ID + "|"
	}
	return n
}

// definite tells whether a failure says nothing about the state: the call
// applied nothing, at no particular moment.
func definite(out svcOutput) bool {
	return out.Outcome == outFailed && out.Code != codeNotFound && out.Code != codeSequence && out.Code != codeNameConflict
}

// step is the sequential specification of the registry.
func step(s regState, in svcInput, out svcOutput) (bool, regState) {
	if definite(out) {
		return true, s
	}
	switch in.Kind {
	case opRead:
		if out.Outcome == outFailed { // not found
			return !s.Exists, s
		}
		if !s.Exists || out.Replicas != s.Replicas || out.Label != s.Label {
			return false, s
		}
		if s.ID != out.ID && (s.ID != "" || strings.Contains(s.Dead, "|"+out.ID+"|")) {
			return false, s
		}
		if s.Version != out.Version && (s.Version != 0 || out.Version <= s.Floor) {
			return false, s
		}
		n := s
		n.ID, n.Version, n.Floor = out.ID, out.Version, max(s.Floor, out.Version)
		return true, n

	case opCreate:
		switch out.Outcome {
		case outOK:
			return !s.Exists, s.created(in, out.ID)
		case outFailed:
			return out.Code == codeNameConflict && s.Exists, s
		}
		if s.Exists {
			return true, s
		}
		return true, s.created(in, "")

	case opUpdate, opScale:
		match := s.matches(in, true)
		switch {
		case out.Outcome == outOK:
			return match, s.updated(in)
		case out.Code == codeNotFound:
			return !s.matches(in, false), s
		case out.Code == codeSequence:
			return s.matches(in, false) && !match, s
		case out.Outcome == outUnknown && match:
			return true, s.updated(in)
		}
		return out.Outcome == outUnknown, s

	case opRemove:
		match := s.matches(in, false)
		switch {
		case out.Outcome == outOK:
			return match, s.removed()
		case out.Code == codeNotFound:
			return !match, s
		case out.Outcome == outUnknown && match:
			return true, s.removed()
		}
		return out.Outcome == outUnknown, s
	}
	return false, s
}

// registryModel is the porcupine model, partitioned by service name.
var registryModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byName := map[string][]porcupine.Operation{}
		var names []string
		for _, op := range history {
			name := op.Input.(svcInput).Name
			if _, ok := byName[name]; !ok {
				names = append(names, name)
			}
			byName[name] = append(byName[name], op)
		}
		sort.Strings(names)
		var out [][]porcupine.Operation
		for _, n := range names {
			out = append(out, byName[n])
		}
		return out
	},
	Init: func() any { return regState{} },
	Step: func(state, input, output any) (bool, any) {
		return step(state.(regState), input.(svcInput), output.(svcOutput))
	},
	Equal: func(a, b any) bool { return a.(regState) == b.(regState) },
	DescribeOperation: func(input, output any) string {
		return describeInput(input.(svcInput)) + " -> " + describeOutput(output.(svcOutput))
	},
	DescribeState: func(state any) string { return state.(regState).String() },
}

// operations turns the history into porcupine's form. Reads that failed
// without an answer say nothing and are left out; a write whose outcome is
// unknown may take effect at any time after its call, so it never returns.
func operations(history []record) []porcupine.Operation {
	var ops []porcupine.Operation
	for _, r := range history {
		if r.In.Kind == opRead && r.Out.Outcome != outOK && r.Out.Code != codeNotFound {
			continue
		}
		ret := int64(r.Return)
		if r.Out.Outcome == outUnknown {
			ret = math.MaxInt64
		}
		ops = append(ops, porcupine.Operation{ClientId: r.Client, Input: r.In, Output: r.Out,
			Call: int64(r.Call), Return: ret})
	}
	return ops
}

// lostWrites returns the acknowledged writes whose effect is missing from
// the final state although no other write could have come after them.
// final maps each name to what every manager reads at the end.
func lostWrites(history []record, final map[string]regState) []record {
	var lost []record
	for i, w := range history {
		if !w.In.Kind.isWrite() || w.Out.Outcome != outOK {
			continue
		}
		superseded := false
		for j, x := range history {
			if j == i || x.In.Name != w.In.Name || !x.In.Kind.isWrite() || x.Out.Outcome == outFailed {
				continue
			}
			if x.Out.Outcome == outUnknown || x.Return >= w.Call {
				superseded = true
				break
			}
		}
		if superseded {
			continue
		}
		f := final[w.In.Name]
		var ok bool
		switch w.In.Kind {
		case opCreate:
			ok = f.Exists && f.ID == w.Out.ID && f.Replicas == w.In.Replicas && f.Label == w.In.Label
		case opUpdate, opScale:
			ok = f.Exists && (w.In.ID == "" || f.ID == w.In.ID) && f.Replicas == w.In.Replicas && f.Label == w.In.Label
		case opRemove:
			ok = !f.Exists
		}
		if !ok {
			lost = append(lost, w)
		}
	}
	return lost
}

// explainViolation describes where the history of one name stops being
// linearizable: the longest order porcupine found that explains a prefix
// of the calls, the state it leads to, and the calls that cannot come
// next.
func explainViolation(part []porcupine.Operation, timeout time.Duration) string {
	_, info := porcupine.CheckOperationsVerbose(registryModel, part, timeout)
	all := info.PartialLinearizations()
	if len(all) == 0 || len(all[0]) == 0 {
		return "no partial linearization"
	}
	longest := all[0][0]
	for _, l := range all[0] {
		if len(l) > len(longest) {
			longest = l
		}
	}
	var b strings.Builder
	s := regState{}
	done := map[int]bool{}
	var steps []string
	for _, id := range longest {
		op := part[id]
		_, s = step(s, op.Input.(svcInput), op.Output.(svcOutput))
		done[id] = true
		steps = append(steps, fmt.Sprintf("  %s => %s", opString(op), s))
	}
	fmt.Fprintf(&b, "longest explained order: %d of %d calls; its last steps:\n", len(longest), len(part))
	steps = steps[max(0, len(steps)-12):]
	b.WriteString(strings.Join(steps, "\n") + "\n")
	var pending []porcupine.Operation
	for i, op := range part {
		if !done[i] {
			pending = append(pending, op)
		}
	}
	sort.Slice(pending, func(i, j int) bool { return pending[i].Call < pending[j].Call })
	fmt.Fprintf(&b, "none of these can come next from state %s:\n", s)
	for _, op := range pending[:min(len(pending), 8)] {
		fmt.Fprintf(&b, "  %s\n", opString(op))
	}
	return b.String()
}

func opString(op porcupine.Operation) string {
	ret := "never"
	if op.Return != math.MaxInt64 {
		ret = fmt.Sprintf("%.3fs", time.Duration(op.Return).Seconds())
	}
	return fmt.Sprintf("[%.3fs..%s] c%d %s -> %s", time.Duration(op.Call).Seconds(), ret, op.ClientId,
		describeInput(op.Input.(svcInput)), describeOutput(op.Output.(svcOutput)))
}
