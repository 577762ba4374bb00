package api_test

import (
	"net/http"
	"net/url"
	"testing"
)

// TestParameterErrorsNameParameterValueAndWant covers every query and path
// parameter the API reads (issue 21, finding 9: ?version=abc answered with
// a raw strconv.ParseUint message). Each bad value is answered 400 with one
// shape of message: the parameter, the value as sent, what is expected.
func TestParameterErrorsNameParameterValueAndWant(t *testing.T) {
	e := newEnv(t, 1)
	e.must(http.StatusCreated, "POST", "/v1.41/services/create", webSpec("web", 1), nil)
	svc := getService(e, "web")
	spec := svc.Spec
	q := url.QueryEscape
	cases := []struct {
		method, path string
		body         any
		want         string
	}{
		{"POST", "/services/web/update?version=abc", spec, `invalid value for parameter version: "abc": want the service's version as read (its Version.Index, an integer from 0 to 18446744073709551615)`},
		{"POST", "/services/web/update?version=-1", spec, `parameter version: "-1": want the service's version`},
		{"POST", "/services/web/update?version=18446744073709551616", spec, `parameter version: "18446744073709551616": want`},
		{"POST", "/services/web/update", spec, `parameter version: "": want`},
		{"POST", "/nodes/manager-1/update?version=1.5", `{}`, `parameter version: "1.5": want the node's version`},
		{"POST", "/swarm/update?version=v1", `{}`, `parameter version: "v1": want the swarm's version`},
		{"POST", "/services/web/update?version=1&rollback=last", spec, `parameter rollback: "last": want previous`},
		{"POST", "/swarm/update?version=1&rotateWorkerToken=yes", `{}`, `parameter rotateWorkerToken: "yes": want true or false`},
		{"POST", "/swarm/update?version=1&rotateManagerToken=2", `{}`, `parameter rotateManagerToken: "2": want true or false`},
		{"POST", "/swarm/update?version=1&rotateManagerUnlockKey=on", `{}`, `parameter rotateManagerUnlockKey: "on": want true or false`},
		{"GET", "/services/web?insertDefaults=maybe", nil, `parameter insertDefaults: "maybe": want true or false`},
		{"GET", "/services?status=sure", nil, `parameter status: "sure": want true or false`},
		{"GET", "/services?filters=" + q("{bad"), nil, `parameter filters: "{bad": want a JSON object`},
		{"GET", "/services?" + filters("colour", "red"), nil, `parameter filters: "colour": want a filter this endpoint accepts: id, name, label, mode, runtime`},
		{"GET", "/services?" + filters("mode", "batch"), nil, `parameter filters: "mode=batch": want mode=replicated, mode=global, mode=replicated-job or mode=global-job`},
		{"GET", "/tasks?" + filters("desired-state", "dancing"), nil, `parameter filters: "desired-state=dancing": want desired-state=running`},
		{"GET", "/tasks?filters=" + q("[1]"), nil, `parameter filters: "[1]": want a JSON object`},
		{"GET", "/nodes?" + filters("role", "boss"), nil, `parameter filters: "role=boss": want role=manager or role=worker`},
		{"GET", "/nodes?" + filters("membership", "maybe"), nil, `parameter filters: "membership=maybe": want membership=accepted or membership=pending`},
		{"GET", "/services/web/logs?stdout=1&tail=ten", nil, `parameter tail: "ten": want "all" or a non-negative integer`},
		{"GET", "/services/web/logs?stdout=1&tail=-5", nil, `parameter tail: "-5": want "all" or a non-negative integer`},
		{"GET", "/services/web/logs?stdout=1&since=yesterday", nil, `parameter since: "yesterday": want seconds[.nanoseconds] since the epoch or an RFC 3339 time`},
		{"GET", "/services/web/logs", nil, `parameter stdout: "": want stdout=1 or stderr=1`},
		{"GET", "/distribution/" + q("UPPER::x") + "/json", nil, `parameter image reference (path): "UPPER::x": want an image reference`},
	}
	for _, c := range cases {
		r := e.do(c.method, "/v1.41"+c.path, c.body)
		if r.status != http.StatusBadRequest {
			t.Errorf("%s %s: %d %s, want 400", c.method, c.path, r.status, r.body)
			continue
		}
		wantContains(t, c.method+" "+c.path, r.message(), "invalid value for parameter ", c.want)
	}
}
