package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/shoal-dev/shoal/api/convert"
	"github.com/shoal-dev/shoal/scheduler"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/state/raft"
)

// Docker's messages for a node that cannot serve the control API. Clients
// and users know them; they are sent unchanged.
const (
	MsgNotInSwarm = `This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`
	MsgWorker     = "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager."
	MsgNoCluster  = "This node is not part of a swarm: the cluster object does not exist yet (the first manager creates it when it initialises the swarm)."
)

// Error is an error answered with an HTTP status: the body is Docker's
// {"message": Msg}.
type Error struct {
	Status int
	Msg    string
	// Err is the cause, if any, kept for errors.Is and logs.
	Err error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func errorf(status int, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Status: status, Msg: err.Error(), Err: errors.Unwrap(err)}
}

func badRequest(format string, args ...any) *Error {
	return errorf(http.StatusBadRequest, format, args...)
}

func notFound(format string, args ...any) *Error {
	return errorf(http.StatusNotFound, format, args...)
}

// statusOf maps an error to the status Docker clients expect. The choices:
//
//   - 400 for everything the client can fix in its request: malformed
//     JSON, unknown fields, refused spec fields (convert.ErrInvalid and
//     convert.ErrUnsupported), bad constraints, unknown filters, an
//     ambiguous ID prefix, and failed preconditions such as demoting the
//     last manager (Docker answers those 400 too).
//   - 404 for a missing object, 409 for a name already in use.
//   - 409 for a stale ?version= ("update out of sequence", the text
//     clients match). Docker answers 500 here only because SwarmKit's
//     error carries no gRPC code; a conflict with the current state is
//     what 409 means, and the CLI prints the message the same way.
//   - 503 when the cluster cannot answer: no quorum (the QuorumError
//     message says how many managers are reachable), a write whose
//     outcome is unknown, a manager shutting down, a request that timed
//     out waiting for Raft, and a node that is not a manager.
//   - 500 for anything else, which is a bug.
func statusOf(err error) int {
	var apiErr *Error
	switch {
	case errors.As(err, &apiErr):
		return apiErr.Status
	case errors.Is(err, state.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, state.ErrNameConflict), errors.Is(err, state.ErrExists),
		errors.Is(err, state.ErrSequence), errors.Is(err, state.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, state.ErrInvalid),
		errors.Is(err, convert.ErrInvalid), errors.Is(err, convert.ErrUnsupported),
		errors.Is(err, scheduler.ErrInvalidConstraint), errors.Is(err, scheduler.ErrInvalidPreference):
		return http.StatusBadRequest
	case errors.Is(err, raft.ErrNoQuorum), errors.Is(err, raft.ErrUnknownOutcome),
		errors.Is(err, raft.ErrShutdown), errors.Is(err, raft.ErrNotLeader),
		errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// messageOf is the message answered for err. Errors from the layers below
// are shown as they are (they are written for users), except a timeout,
// which gets context.
func messageOf(err error) string {
	if errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, raft.ErrNoQuorum) {
		return "the request timed out waiting for the swarm's Raft log; the managers may be electing a leader or overloaded: " + err.Error()
	}
	return strings.TrimSpace(err.Error())
}
