package opts

import (
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/filters"
)

// ParseFilters turns --filter KEY=VALUE items into the filters the API
// takes. The manager refuses keys it does not know, with their names.
func ParseFilters(items []string) (filters.Args, error) {
	args := filters.NewArgs()
	for _, it := range items {
		k, v, ok := strings.Cut(it, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return args, fmt.Errorf("--filter %q: want KEY=VALUE, such as desired-state=running", it)
		}
		args.Add(strings.ToLower(k), v)
	}
	return args, nil
}
