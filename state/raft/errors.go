package raft

import (
	"errors"
	"fmt"
)

// Errors returned by Node.
var (
	// ErrNoQuorum is matched (errors.Is) by every QuorumError.
	ErrNoQuorum = errors.New("no quorum")
	// ErrNotLeader is returned by the leader-only entry points when this
	// node is not the leader; forwarders retry with the new leader.
	ErrNotLeader = errors.New("raft: not the leader")
	// ErrUnknownOutcome is returned when a write was handed to a leader that
	// lost leadership before the write committed: it may or may not be
	// applied once a leader commits it. Check the state before retrying.
	ErrUnknownOutcome = errors.New("write outcome unknown: leadership changed before the write was confirmed; check the state before retrying")
	// ErrShutdown is returned after Shutdown.
	ErrShutdown = errors.New("raft: node is shut down")
	// ErrNotSent is returned by a Forwarder when a request certainly did not
	// reach the leader (e.g. connection refused), so it is safe to retry.
	ErrNotSent = errors.New("raft: request not sent")
)

// QuorumError reports that no leader could be reached: too few managers are
// reachable, or an election is taking longer than the wait allows.
type QuorumError struct {
	Reachable, Total int
	// Pending is set when a write was appended to a leader that then lost
	// its quorum: it may still be applied when quorum returns.
	Pending bool
}

func (e *QuorumError) Error() string {
	msg := fmt.Sprintf("no quorum: %d of %d managers reachable", e.Reachable, e.Total)
	if e.Reachable > e.Total/2 {
		// Enough managers answer, but none became leader in time.
		msg = fmt.Sprintf("no leader: election did not complete in time (%d of %d managers reachable)", e.Reachable, e.Total)
	}
	if e.Pending {
		msg += "; the write was not confirmed and may still be applied when quorum returns"
	}
	return msg
}

// Is makes errors.Is(err, ErrNoQuorum) true.
func (e *QuorumError) Is(target error) bool { return target == ErrNoQuorum }
