package opts

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/mount"
)

// ParseMount parses a --mount value, Docker's CSV form:
// "type=bind,source=/srv/data,target=/data,readonly". The type is volume
// by default; keys are type, source (src), target (destination, dst) and
// readonly (ro), which takes an optional true/false.
func ParseMount(s string) (mount.Mount, error) {
	m := mount.Mount{Type: mount.TypeVolume}
	for _, field := range strings.Split(s, ",") {
		k, v, hasValue := strings.Cut(field, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if !hasValue && k != "readonly" && k != "ro" {
			return m, fmt.Errorf("%q: %s needs a value", s, k)
		}
		switch k {
		case "type":
			switch t := mount.Type(strings.ToLower(v)); t {
			case mount.TypeBind, mount.TypeVolume, mount.TypeTmpfs:
				m.Type = t
			default:
				return m, fmt.Errorf("%q: type %q: want bind, volume or tmpfs", s, v)
			}
		case "source", "src":
			m.Source = v
		case "target", "destination", "dst":
			m.Target = v
		case "readonly", "ro":
			if !hasValue {
				m.ReadOnly = true
				continue
			}
			b, err := strconv.ParseBool(v)
			if err != nil {
				return m, fmt.Errorf("%q: %s=%q: want true or false", s, k, v)
			}
			m.ReadOnly = b
		default:
			return m, fmt.Errorf("%q: unknown key %q; want type, source, target or readonly", s, k)
		}
	}
	switch {
	case m.Target == "":
		return m, fmt.Errorf("%q: no target; want type=TYPE,source=SRC,target=/PATH", s)
	case m.Type == mount.TypeBind && m.Source == "":
		return m, fmt.Errorf("%q: a bind mount needs a source", s)
	case m.Type == mount.TypeTmpfs && m.Source != "":
		return m, fmt.Errorf("%q: a tmpfs mount takes no source", s)
	}
	return m, nil
}
