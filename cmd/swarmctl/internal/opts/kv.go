package opts

import (
	"fmt"
	"strings"
	"unicode"
)

// ParseKeyValue splits "KEY=VALUE". With valueRequired false a bare "KEY"
// means an empty value (as for Docker labels). Keys must be non-empty and
// free of whitespace.
func ParseKeyValue(s string, valueRequired bool) (key, value string, err error) {
	key, value, hasValue := strings.Cut(s, "=")
	switch {
	case key == "":
		return "", "", fmt.Errorf("%q: empty key, want KEY=VALUE", s)
	case strings.IndexFunc(key, unicode.IsSpace) >= 0:
		return "", "", fmt.Errorf("%q: the key contains whitespace, want KEY=VALUE", s)
	case valueRequired && !hasValue:
		return "", "", fmt.Errorf("%q: no value, want KEY=VALUE", s)
	}
	return key, value, nil
}

// ParseLabels turns KEY[=VALUE] items into a map; a later item wins. It
// returns nil for no items.
func ParseLabels(items []string) (map[string]string, error) {
	if len(items) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(items))
	for _, it := range items {
		k, v, err := ParseKeyValue(it, false)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// ParseEnv checks KEY=VALUE environment items and returns them in order,
// a later item for the same key replacing the earlier one in place.
func ParseEnv(items []string) ([]string, error) {
	var out []string
	for _, it := range items {
		k, _, err := ParseKeyValue(it, true)
		if err != nil {
			return nil, err
		}
		out = SetEnv(out, k, it)
	}
	return out, nil
}

// SetEnv sets the variable key to item ("KEY=VALUE") in env, in place of an
// existing one, or at the end.
func SetEnv(env []string, key, item string) []string {
	for i, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			out := append([]string(nil), env...)
			out[i] = item
			return out
		}
	}
	return append(append([]string(nil), env...), item)
}

// RemoveEnv returns env without the variable key.
func RemoveEnv(env []string, key string) []string {
	var out []string
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); k != key {
			out = append(out, e)
		}
	}
	return out
}
