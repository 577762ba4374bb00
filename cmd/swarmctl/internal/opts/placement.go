package opts

import (
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/swarm"
)

// ParsePlacementPref parses a --placement-pref value, "spread=LABEL" such
// as spread=node.labels.zone: tasks are spread evenly over the values of
// the label.
func ParsePlacementPref(s string) (swarm.PlacementPreference, error) {
	strategy, arg, ok := strings.Cut(s, "=")
	if !ok || arg == "" {
		return swarm.PlacementPreference{}, fmt.Errorf("%q: want spread=LABEL, such as spread=node.labels.zone", s)
	}
	if strategy != "spread" {
		return swarm.PlacementPreference{}, fmt.Errorf("%q: unknown strategy %q; the only one is spread", s, strategy)
	}
	return swarm.PlacementPreference{Spread: &swarm.SpreadOver{SpreadDescriptor: arg}}, nil
}

// PlacementPrefString is the --placement-pref form of p.
func PlacementPrefString(p swarm.PlacementPreference) string {
	if p.Spread == nil {
		return ""
	}
	return "spread=" + p.Spread.SpreadDescriptor
}

// CheckConstraint checks the shape of a --constraint value, ATTR==VALUE or
// ATTR!=VALUE; the manager checks the attribute names.
func CheckConstraint(s string) error {
	for _, op := range []string{"==", "!="} {
		if k, v, ok := strings.Cut(s, op); ok {
			if strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
				return fmt.Errorf("%q: want ATTR%sVALUE, such as node.labels.zone%sa", s, op, op)
			}
			return nil
		}
	}
	return fmt.Errorf("%q: want ATTR==VALUE or ATTR!=VALUE, such as node.role==worker", s)
}
