package dashboard

import (
	"context"
	"time"

	"github.com/shoal-dev/shoal/state"
)

// Source is what the dashboard reads: the manager's replicated store and
// its Raft view. Implementations must be safe for concurrent use.
type Source interface {
	// Store is the manager's local copy of the replicated state.
	Store() *state.Store
	// RaftView describes the Raft group as this manager sees it now. It
	// may ask the other managers, within ctx; a manager that does not
	// answer is reported unreachable, not as an error.
	RaftView(ctx context.Context) RaftView
}

// RaftView is the Raft group as one manager sees it.
type RaftView struct {
	// Self is the ID of the manager that made the view.
	Self string `json:"self"`
	// LeaderID is the leader this manager knows; empty if none.
	LeaderID string `json:"leader"`
	// Term is this manager's current term.
	Term uint64 `json:"term"`
	// Members are the managers of the Raft configuration.
	Members []RaftMember `json:"members"`
	// Voters, Reachable and Quorum count voters, voters that answered,
	// and the majority a commit needs.
	Voters    int `json:"voters"`
	Reachable int `json:"reachable"`
	Quorum    int `json:"quorum"`
	// CanLose is how many more managers can be lost before the quorum is:
	// Reachable - Quorum; negative once it is lost.
	CanLose int `json:"canLose"`
	// Stale is set when this manager cannot vouch for what it serves: it
	// knows no leader, or has not heard from one for Config.StaleAfter.
	Stale       bool   `json:"stale"`
	StaleReason string `json:"staleReason,omitempty"`
	// IsLeader tells whether this manager is the leader.
	IsLeader bool `json:"isLeader"`
	// LastContact is when this follower last heard from the leader.
	LastContact time.Time `json:"lastContact,omitzero"`
	// StoreIndex is this manager's store index.
	StoreIndex uint64    `json:"storeIndex"`
	At         time.Time `json:"at"`
}

// RaftMember is one manager's Raft state, as it reported it.
type RaftMember struct {
	ID        string `json:"id"`
	Addr      string `json:"addr"`
	Voter     bool   `json:"voter"`
	Reachable bool   `json:"reachable"`
	// State is Leader, Follower or Candidate; empty if unreachable.
	State        string `json:"state,omitempty"`
	Term         uint64 `json:"term,omitempty"`
	CommitIndex  uint64 `json:"commit,omitempty"`
	AppliedIndex uint64 `json:"applied,omitempty"`
	// Lag is how many entries this manager's applied index is behind the
	// highest commit index reported.
	Lag   uint64 `json:"lag"`
	Error string `json:"error,omitempty"`
}

// finish fills the counts, lags and staleness of a view a Source made.
func (v *RaftView) finish(staleAfter time.Duration, now time.Time) {
	var top uint64
	v.Voters, v.Reachable = 0, 0
	for _, m := range v.Members {
		if m.Reachable {
			top = max(top, m.CommitIndex)
		}
		if m.Voter {
			v.Voters++
			if m.Reachable {
				v.Reachable++
			}
		}
	}
	for i := range v.Members {
		if m := &v.Members[i]; m.Reachable && top > m.AppliedIndex {
			m.Lag = top - m.AppliedIndex
		}
	}
	v.Quorum = v.Voters/2 + 1
	v.CanLose = v.Reachable - v.Quorum
	v.At = now
	switch {
	case v.LeaderID == "":
		v.Stale, v.StaleReason = true, "this manager knows no leader: the cluster may have lost its quorum"
	case !v.IsLeader && !v.LastContact.IsZero() && now.Sub(v.LastContact) > staleAfter:
		v.Stale, v.StaleReason = true, "this manager has not heard from the leader for "+now.Sub(v.LastContact).Round(time.Second).String()
	case v.CanLose < 0:
		v.Stale, v.StaleReason = true, "fewer managers answer than a quorum needs"
	}
}
