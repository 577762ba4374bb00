package api

import (
	"strings"
)

// Filter matching, as Docker matches list filters: every key must match
// (AND) and, within a key, any of its values (OR), except labels, which
// must all match.

// matchPrefix tells whether s starts with one of prefixes; no prefixes
// match everything.
func matchPrefix(s string, prefixes []string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// matchPrefixFold is matchPrefix ignoring case, for names, which the
// store compares case-insensitively.
func matchPrefixFold(s string, prefixes []string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			return true
		}
	}
	return false
}

// matchSet tells whether s is in set; a nil set matches everything.
func matchSet(s string, set map[string]bool) bool {
	return set == nil || set[s]
}

// matchLabels tells whether labels has every wanted label: "key" needs the
// key, "key=value" the key with that value.
func matchLabels(labels map[string]string, want []string) bool {
	for _, w := range want {
		k, v, withValue := strings.Cut(w, "=")
		got, ok := labels[k]
		if !ok || withValue && got != v {
			return false
		}
	}
	return true
}

// runtimeMatches is the runtime filter: every shoal task runs a container.
func runtimeMatches(runtimes []string) bool {
	if len(runtimes) == 0 {
		return true
	}
	for _, r := range runtimes {
		if r == "container" {
			return true
		}
	}
	return false
}
