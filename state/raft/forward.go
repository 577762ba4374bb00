package raft

import (
	"context"

	"github.com/shoal-dev/shoal/state"
)

// Forwarder carries requests from a manager to the leader (or to any
// manager, for Ping). Implementations must be safe for concurrent use.
//
// An implementation returns an error wrapping ErrNotSent when the request
// certainly did not reach its target, ErrNotLeader when the target answered
// that it is not the leader, and any other error when the outcome is not
// known. Every method must return promptly once its context ends, even if
// the target never answers (a frozen leader keeps its connections open):
// the Node ends a call that way when it stops following the leader.
type Forwarder interface {
	// Apply asks the leader at addr to commit an encoded command.
	Apply(ctx context.Context, addr string, cmd []byte) (state.Results, error)
	// ReadIndex asks the leader at addr for an index that covers every write
	// acknowledged so far.
	ReadIndex(ctx context.Context, addr string) (uint64, error)
	// ChangeMembership asks the leader at addr to add or remove a voter.
	ChangeMembership(ctx context.Context, addr string, req MembershipChange) error
	// Ping checks that the manager at addr answers.
	Ping(ctx context.Context, addr string) error
}

// MembershipChange adds (Addr set) or removes (Remove) a voter.
type MembershipChange struct {
	ID     string `json:"id"`
	Addr   string `json:"addr,omitempty"`
	Remove bool   `json:"remove,omitempty"`
}
