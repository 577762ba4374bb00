package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/filters"
)

// paramError is the one answer to a query or path parameter that cannot
// be read: it names the parameter, quotes the value as sent and says what
// is expected, so a user needs no source to fix the request (issue 21: a
// raw strconv message named neither). Every parameter error goes through
// it.
func paramError(name, value, want string) *Error {
	return badRequest("invalid value for parameter %s: %q: want %s", name, value, want)
}

// filterError is paramError for one filter of ?filters=.
func filterError(key, value, want string) *Error {
	return paramError("filters", key+"="+value, want)
}

// versionParam reads the ?version= of an update, the Version.Index the
// client read; kind names the object for the message.
func versionParam(r *http.Request, kind string) (uint64, error) {
	raw := r.URL.Query().Get("version")
	v, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		return 0, paramError("version", raw, fmt.Sprintf("the %s's version as read (its Version.Index, an integer from 0 to %d)", kind, uint64(1<<64-1)))
	}
	return v, nil
}

// boolParam reads a strict boolean query parameter; absent is false.
func boolParam(r *http.Request, name string) (bool, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		return false, paramError(name, raw, "true or false")
	}
	return b, nil
}

// enumParam reads a query parameter that is absent or one of allowed.
func enumParam(r *http.Request, name string, allowed ...string) (string, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return "", nil
	}
	for _, a := range allowed {
		if raw == a {
			return raw, nil
		}
	}
	return "", paramError(name, raw, strings.Join(allowed, " or "))
}

// looseBoolParam reads a boolean as Docker reads the flags of log
// requests: anything but "", 0, no, false and none is true.
func looseBoolParam(r *http.Request, name string) bool {
	switch strings.ToLower(strings.TrimSpace(r.URL.Query().Get(name))) {
	case "", "0", "no", "false", "none":
		return false
	}
	return true
}

// filtersParam parses ?filters= and refuses keys not in accepted, as
// Docker does.
func filtersParam(r *http.Request, accepted ...string) (filters.Args, error) {
	raw := r.URL.Query().Get("filters")
	args, err := filters.FromJSON(raw)
	if err != nil {
		return filters.Args{}, paramError("filters", raw, `a JSON object of filter names to lists of values, such as {"name":["web"]}`)
	}
	ok := map[string]bool{}
	for _, k := range accepted {
		ok[k] = true
	}
	for _, k := range args.Keys() {
		if !ok[k] {
			return filters.Args{}, paramError("filters", k, "a filter this endpoint accepts: "+strings.Join(accepted, ", "))
		}
	}
	return args, nil
}
