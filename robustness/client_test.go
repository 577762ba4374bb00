package robustness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/docker/docker/api/types/swarm"
)

// labelKey is the service label whose value update operations write; each
// write puts a value no other write uses, so a lost or resurrected write
// shows in the value read.
const labelKey = "robustness.value"

// apiClient calls one manager's Docker Engine API, as the docker CLI does.
type apiClient struct {
	member string
	hc     *http.Client
	base   string // http://<member>
}

// answer is a raw HTTP answer, or the transport error.
type answer struct {
	status int
	body   []byte
	err    error
}

func (a answer) message() string {
	if a.err != nil {
		return a.err.Error()
	}
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(a.body, &m) == nil && m.Message != "" {
		return m.Message
	}
	return strings.TrimSpace(string(a.body))
}

func (c *apiClient) call(ctx context.Context, method, path string, body any) answer {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return answer{err: err}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return answer{err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{status: resp.StatusCode, err: err}
	}
	return answer{status: resp.StatusCode, body: b}
}

func serviceSpec(name string, replicas uint64, label, image string) swarm.ServiceSpec {
	return swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: name, Labels: map[string]string{labelKey: label}},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: image}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
	}
}

// notSent tells whether a transport error happened before the request
// left: the manager was down (connection refused).
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// classify turns a failed answer into an outcome. Definite failures are
// the ones the API documents as applying nothing: the store's refusals
// (404, 409), a QuorumError that does not say the write may still be
// applied, and a request that never reached the manager. Everything else
// (an unknown outcome, a manager shutting down, a timeout, a reset
// connection, a 500) may have applied.
func classify(a answer) svcOutput {
	out := svcOutput{Outcome: outUnknown, Status: a.status, Msg: a.message()}
	switch {
	case a.err != nil && a.status == 0:
		if notSent(a.err) {
			out.Outcome, out.Code = outFailed, codeNotSent
		}
	case a.status == http.StatusNotFound:
		out.Outcome, out.Code = outFailed, codeNotFound
	case a.status == http.StatusConflict && strings.Contains(out.Msg, "update out of sequence"):
		out.Outcome, out.Code = outFailed, codeSequence
	case a.status == http.StatusConflict && strings.Contains(out.Msg, "already in use"):
		out.Outcome, out.Code = outFailed, codeNameConflict
	case a.status == http.StatusConflict && strings.Contains(out.Msg, "already exists"):
		// The service's ID is fresh: it can only exist if this very
		// command was applied before. The outcome is then known (applied)
		// but the answer says otherwise; checkHistory flags it.
		out.Code = codeExists
	case a.status == http.StatusServiceUnavailable &&
		(strings.HasPrefix(out.Msg, "no quorum") || strings.HasPrefix(out.Msg, "no leader")) &&
		!strings.Contains(out.Msg, "may still be applied"):
		out.Outcome, out.Code = outFailed, codeNoQuorum
	case a.status == http.StatusBadRequest:
		out.Outcome, out.Code = outFailed, codeRefused
	}
	return out
}

// anomalous tells whether an answer is one the API documents as a bug
// (500) or that this load should never get (400).
func anomalous(out svcOutput) bool {
	return out.Status == http.StatusInternalServerError || out.Status == http.StatusBadRequest
}

func (c *apiClient) read(ctx context.Context, name string) svcOutput {
	a := c.call(ctx, http.MethodGet, "/services/"+name, nil)
	if a.err != nil || a.status != http.StatusOK {
		return classify(a)
	}
	var s swarm.Service
	if err := json.Unmarshal(a.body, &s); err != nil {
		return svcOutput{Outcome: outUnknown, Status: a.status, Msg: fmt.Sprintf("decoding %q: %v", a.body, err)}
	}
	out := svcOutput{Outcome: outOK, ID: s.ID, Version: s.Version.Index, Label: s.Spec.Labels[labelKey], Status: a.status}
	if s.Spec.Mode.Replicated != nil && s.Spec.Mode.Replicated.Replicas != nil {
		out.Replicas = *s.Spec.Mode.Replicated.Replicas
	}
	return out
}

func (c *apiClient) create(ctx context.Context, in svcInput, image string) svcOutput {
	a := c.call(ctx, http.MethodPost, "/services/create", serviceSpec(in.Name, in.Replicas, in.Label, image))
	if a.err != nil || a.status != http.StatusCreated {
		return classify(a)
	}
	var r swarm.ServiceCreateResponse
	if err := json.Unmarshal(a.body, &r); err != nil || r.ID == "" {
		return svcOutput{Outcome: outUnknown, Status: a.status, Msg: fmt.Sprintf("decoding %q: %v", a.body, err)}
	}
	return svcOutput{Outcome: outOK, ID: r.ID, Status: a.status}
}

func (c *apiClient) update(ctx context.Context, in svcInput, image string) svcOutput {
	a := c.call(ctx, http.MethodPost, fmt.Sprintf("/services/%s/update?version=%d", in.ID, in.Version),
		serviceSpec(in.Name, in.Replicas, in.Label, image))
	if a.err != nil || a.status != http.StatusOK {
		return classify(a)
	}
	return svcOutput{Outcome: outOK, Status: a.status}
}

func (c *apiClient) remove(ctx context.Context, in svcInput) svcOutput {
	ref := in.Name
	if in.ID != "" {
		ref = in.ID
	}
	a := c.call(ctx, http.MethodDelete, "/services/"+ref, nil)
	if a.err != nil || a.status != http.StatusOK {
		return classify(a)
	}
	return svcOutput{Outcome: outOK, Status: a.status}
}
