package convert

import (
	"maps"
	"sort"
	"strconv"
	"strings"

	"github.com/shoal-dev/shoal/model"
)

// Labels that carry shoal's extensions through Docker's API, which has no
// field for them. They stay visible in the object's labels.
const (
	// LabelPrefix is reserved: an unknown label under it is refused, so a
	// typo does not silently leave a setting off.
	LabelPrefix = "io.shoal."
	// LabelRebalance ("true" or "false") sets ServiceSpec.Rebalance on a
	// service and OrchestrationConfig.Rebalance on the cluster.
	LabelRebalance = "io.shoal.rebalance"
	// LabelPlacementStrategy ("spread" or "binpack") sets
	// ServiceSpec.Strategy.
	LabelPlacementStrategy = "io.shoal.placement.strategy"
	// LabelMaxReplicas (a count from 1 to MaxReplicasCeiling) sets
	// OrchestrationConfig.MaxReplicas on the cluster; without it the
	// cluster has model.DefaultMaxReplicas.
	LabelMaxReplicas = "io.shoal.max-replicas"
)

// MaxReplicasCeiling is model.MaxReplicasCeiling, the largest replica
// limit a cluster may be given.
const MaxReplicasCeiling = model.MaxReplicasCeiling

// shoalLabels is what the io.shoal.* labels of an object say.
type shoalLabels struct {
	rebalance   bool
	strategy    model.PlacementStrategy
	maxReplicas uint64
}

// parseShoalLabels validates the io.shoal.* labels of an object; allowed
// lists the ones that object may carry.
func parseShoalLabels(c *checker, labels map[string]string, allowed ...string) shoalLabels {
	var out shoalLabels
	keys := make([]string, 0, len(labels))
	for k := range labels {
		if strings.HasPrefix(k, LabelPrefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		field := `Labels["` + k + `"]`
		v := labels[k]
		known := false
		for _, a := range allowed {
			known = known || a == k
		}
		if !known {
			c.unsupported(field, "unknown shoal label; this object accepts %s", strings.Join(allowed, ", "))
			continue
		}
		switch k {
		case LabelRebalance:
			switch v {
			case "true":
				out.rebalance = true
			case "false":
			default:
				c.invalid(field, "%q: want \"true\" or \"false\"", v)
			}
		case LabelPlacementStrategy:
			switch s := model.PlacementStrategy(v); s {
			case model.StrategySpread, model.StrategyBinpack:
				out.strategy = s
			default:
				c.invalid(field, "%q: want %q or %q", v, model.StrategySpread, model.StrategyBinpack)
			}
		case LabelMaxReplicas:
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil || n < 1 || n > MaxReplicasCeiling {
				c.invalid(field, "%q: want a replica count from 1 to %d", v, MaxReplicasCeiling)
			}
			out.maxReplicas = n
		}
	}
	return out
}

// labelsToDocker returns a copy of labels in which the io.shoal.* labels
// agree with the fields, which are authoritative: a spec written through
// shoal's own API may have set the field without the label. Docker never
// sends null labels, so neither do we.
func labelsToDocker(labels map[string]string, rebalance *bool, strategy *model.PlacementStrategy) map[string]string {
	out := maps.Clone(labels)
	if out == nil {
		out = map[string]string{}
	}
	if rebalance != nil {
		if _, ok := out[LabelRebalance]; ok || *rebalance {
			out[LabelRebalance] = "false"
			if *rebalance {
				out[LabelRebalance] = "true"
			}
		}
	}
	if strategy != nil {
		if *strategy == "" {
			delete(out, LabelPlacementStrategy)
		} else {
			out[LabelPlacementStrategy] = string(*strategy)
		}
	}
	return out
}

// cloneLabels copies a label map, keeping nil for an empty one so the state
// does not store empty maps.
func cloneLabels(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}
