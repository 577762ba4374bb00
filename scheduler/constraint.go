package scheduler

import (
	"fmt"
	"strings"

	"github.com/shoal-dev/shoal/model"
)

// Prefixes of the label keys usable in constraints and preferences. They are
// matched case-insensitively; the label name after them is case-sensitive.
const (
	nodeLabelPrefix   = "node.labels."
	engineLabelPrefix = "engine.labels."
)

// attrKind names a node attribute that constraints and placement preferences
// can refer to.
type attrKind uint8

const (
	attrNodeID attrKind = iota
	attrHostname
	attrRole
	attrOS
	attrArch
	attrNodeLabel   // node.labels.<name>: set by users on the node
	attrEngineLabel // engine.labels.<name>: reported by the node's engine
)

// attribute is a parsed constraint or preference key.
type attribute struct {
	kind  attrKind
	label string // name of the label for attrNodeLabel and attrEngineLabel
}

// knownKeys is listed in the error for an unknown key.
const knownKeys = "node.id, node.hostname, node.role, node.platform.os, node.platform.arch, node.labels.<name> or engine.labels.<name>"

func parseAttribute(key string) (attribute, error) {
	switch strings.ToLower(key) {
	case "node.id":
		return attribute{kind: attrNodeID}, nil
	case "node.hostname":
		return attribute{kind: attrHostname}, nil
	case "node.role":
		return attribute{kind: attrRole}, nil
	case "node.platform.os":
		return attribute{kind: attrOS}, nil
	case "node.platform.arch":
		return attribute{kind: attrArch}, nil
	}
	for _, p := range []struct {
		prefix string
		kind   attrKind
	}{{nodeLabelPrefix, attrNodeLabel}, {engineLabelPrefix, attrEngineLabel}} {
		if len(key) < len(p.prefix) || !strings.EqualFold(key[:len(p.prefix)], p.prefix) {
			continue
		}
		name := key[len(p.prefix):]
		if name == "" {
			return attribute{}, fmt.Errorf("key %q has no label name", key)
		}
		if strings.ContainsAny(name, " \t\r\n") {
			return attribute{}, fmt.Errorf("label name %q contains white space", name)
		}
		return attribute{kind: p.kind, label: name}, nil
	}
	return attribute{}, fmt.Errorf("unknown key %q (expected %s)", key, knownKeys)
}

// value returns the attribute's value on n. ok is false only for a label the
// node does not have: every node has an ID, a hostname, a role and a
// platform, if only an empty one.
func (a attribute) value(n *model.Node) (v string, ok bool) {
	switch a.kind {
	case attrNodeID:
		return n.ID, true
	case attrHostname:
		return n.Description.Hostname, true
	case attrRole:
		return string(n.Role), true
	case attrOS:
		return n.Description.Platform.OS, true
	case attrArch:
		return n.Description.Platform.Architecture, true
	case attrNodeLabel:
		v, ok = n.Spec.Labels[a.label]
		return v, ok
	case attrEngineLabel:
		v, ok = n.Description.Engine.Labels[a.label]
		return v, ok
	}
	return "", false
}

// foldCase tells whether values of the attribute compare case-insensitively,
// as Docker does for everything but labels.
func (a attribute) foldCase() bool { return a.kind < attrNodeLabel }

// Constraint is one parsed placement constraint: "key==value" or
// "key!=value". Make them with ParseConstraints.
type Constraint struct {
	expr  string // as the user wrote it, for messages
	attr  attribute
	equal bool // == rather than !=
	value string
}

// String returns the constraint as it was written.
func (c Constraint) String() string { return c.expr }

// Matches tells whether node n satisfies the constraint. A label the node
// does not have never satisfies == and always satisfies !=.
func (c Constraint) Matches(n *model.Node) bool {
	v, ok := c.attr.value(n)
	if !ok {
		return !c.equal
	}
	same := v == c.value || (c.attr.foldCase() && strings.EqualFold(v, c.value))
	return same == c.equal
}

// valueForbidden are characters that cannot appear in a constraint value:
// they belong to operators, present or future, and a value holding one is
// almost certainly a typo such as "node.labels.zone===a".
const valueForbidden = "=!<>~"

// ParseConstraints parses placement constraints such as
// "node.labels.zone==eu-1" or "node.role!=manager". Keys are node.id,
// node.hostname, node.role, node.platform.os, node.platform.arch,
// node.labels.<name> and engine.labels.<name>; operators are == and !=.
// The error wraps ErrInvalidConstraint and quotes the expression at fault, so
// the API can return it as is when a service is created or updated.
func ParseConstraints(exprs []string) ([]Constraint, error) {
	if len(exprs) == 0 {
		return nil, nil
	}
	out := make([]Constraint, 0, len(exprs))
	for _, e := range exprs {
		c, err := parseConstraint(e)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %v", ErrInvalidConstraint, e, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func parseConstraint(expr string) (Constraint, error) {
	// The first operator in the expression splits it, whichever it is.
	at, equal := -1, false
	if i := strings.Index(expr, "=="); i >= 0 {
		at, equal = i, true
	}
	if i := strings.Index(expr, "!="); i >= 0 && (at < 0 || i < at) {
		at, equal = i, false
	}
	if at < 0 {
		return Constraint{}, fmt.Errorf("expected an operator, == or !=")
	}
	key := strings.TrimSpace(expr[:at])
	value := strings.TrimSpace(expr[at+2:])
	if key == "" {
		return Constraint{}, fmt.Errorf("missing key before the operator")
	}
	attr, err := parseAttribute(key)
	if err != nil {
		return Constraint{}, err
	}
	if value == "" {
		return Constraint{}, fmt.Errorf("missing value after the operator")
	}
	if i := strings.IndexAny(value, valueForbidden); i >= 0 {
		return Constraint{}, fmt.Errorf("value %q contains %q", value, value[i])
	}
	if attr.kind == attrRole && !strings.EqualFold(value, string(model.RoleManager)) &&
		!strings.EqualFold(value, string(model.RoleWorker)) {
		return Constraint{}, fmt.Errorf("node.role is %s or %s, not %q", model.RoleManager, model.RoleWorker, value)
	}
	return Constraint{expr: expr, attr: attr, equal: equal, value: value}, nil
}

// preference is a parsed placement preference: the node attribute whose
// values split the nodes into branches.
type preference struct {
	attr attribute
}

// branchValue returns the branch a node belongs to. Nodes lacking the label
// share the branch "", as in Docker. Values that compare case-insensitively
// in constraints (hostname, role, platform) are lower-cased so that "Linux"
// and "linux" are one branch.
func (p preference) branchValue(n *model.Node) string {
	v, _ := p.attr.value(n)
	if p.attr.foldCase() {
		return strings.ToLower(v)
	}
	return v
}

func parsePreferences(prefs []model.PlacementPreference) ([]preference, error) {
	if len(prefs) == 0 {
		return nil, nil
	}
	out := make([]preference, 0, len(prefs))
	for _, p := range prefs {
		if strings.TrimSpace(p.Spread) == "" {
			return nil, fmt.Errorf("%w: spread has no attribute", ErrInvalidPreference)
		}
		attr, err := parseAttribute(strings.TrimSpace(p.Spread))
		if err != nil {
			return nil, fmt.Errorf("%w spread=%s: %v", ErrInvalidPreference, p.Spread, err)
		}
		out = append(out, preference{attr: attr})
	}
	return out, nil
}

// ValidatePlacement checks what the scheduler parses in a task's placement:
// its constraints and its preferences. The API calls it when a service is
// created or updated; the errors wrap ErrInvalidConstraint or
// ErrInvalidPreference.
func ValidatePlacement(p model.Placement) error {
	if _, err := ParseConstraints(p.Constraints); err != nil {
		return err
	}
	_, err := parsePreferences(p.Preferences)
	return err
}
