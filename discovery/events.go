package discovery

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// MemberState is a member's state as this node sees it.
type MemberState int

// Member states. The zero value is not a valid state.
const (
	// StateAlive members answer probes, or were last heard of alive.
	StateAlive MemberState = iota + 1
	// StateSuspect members failed this node's last probe and have not been
	// declared failed yet; they have until the suspicion timeout to refute.
	// memberlist does not tell other members' suspicions, so this is this
	// node's own evidence; it is cleared by a later successful probe, a
	// change of the member, or once the longest suspicion timeout has
	// passed without the member being declared failed (it refuted).
	StateSuspect
	// StateFailed members were declared failed: their suspicion timed out.
	StateFailed
	// StateLeft members left gracefully (Leave).
	StateLeft
)

func (s MemberState) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateSuspect:
		return "suspect"
	case StateFailed:
		return "failed"
	case StateLeft:
		return "left"
	default:
		return fmt.Sprintf("MemberState(%d)", int(s))
	}
}

// Member is a member of the gossip cluster as this node sees it.
type Member struct {
	Meta
	// Addr is the member's gossip address (IP:port).
	Addr string
	// State is the member's state, Since the local time it changed.
	State MemberState
	Since time.Time
	// RTT is the round trip time of this node's last successful direct
	// probe of the member, 0 before the first one.
	RTT time.Duration
	// Local is set for this node's own entry.
	Local bool
}

// EventType is the kind of a membership change.
type EventType int

// Event types.
const (
	// EventJoin: a member joined, or came back after it failed or left.
	EventJoin EventType = iota + 1
	// EventUpdate: a member changed its metadata (also sent when a member
	// starts leaving, with Meta.Leaving set).
	EventUpdate
	// EventLeave: a member left gracefully.
	EventLeave
	// EventFailed: a member was declared failed: it did not answer probes
	// and did not refute the suspicion in time. It may be a crash, or a
	// node cut off or stalled for longer than the profile tolerates; the
	// leader confirms with the node's heartbeats before marking it DOWN.
	EventFailed
)

func (t EventType) String() string {
	switch t {
	case EventJoin:
		return "join"
	case EventUpdate:
		return "update"
	case EventLeave:
		return "leave"
	case EventFailed:
		return "failed"
	default:
		return fmt.Sprintf("EventType(%d)", int(t))
	}
}

// Event is a membership change of another member.
type Event struct {
	Type EventType
	// Member is the member after the change.
	Member Member
}

// EventHandler receives membership changes of the other members (never of
// the local node, never of removed nodes).
//
// HandleEvent is called from one goroutine owned by the Gossip, one event at
// a time, in the order this node saw the changes, and never while memberlist
// holds its locks: it may call Members, Member, Health, SetKeys and Leave.
// It must not call Shutdown, which waits for it to return. It should return
// quickly: events wait in an unbounded in-memory queue while it runs, but
// gossip and failure detection never wait for it. Events still queued at
// Shutdown are dropped; the handler is not called after Shutdown returns.
type EventHandler interface {
	HandleEvent(Event)
}

// EventHandlerFunc adapts a function to EventHandler.
type EventHandlerFunc func(Event)

// HandleEvent calls f(e).
func (f EventHandlerFunc) HandleEvent(e Event) { f(e) }

// eventQueue decouples memberlist's callbacks, which run under memberlist's
// node lock and must not block, from the handler.
type eventQueue struct {
	handler EventHandler

	mu      sync.Mutex
	pending []Event
	wake    chan struct{} // capacity 1: pending is not empty
	stop    chan struct{}
	done    chan struct{}
}

func newEventQueue(h EventHandler) *eventQueue {
	q := &eventQueue{
		handler: h,
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go q.run()
	return q
}

// push queues e without blocking.
func (q *eventQueue) push(e Event) {
	q.mu.Lock()
	q.pending = append(q.pending, e)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *eventQueue) run() {
	defer close(q.done)
	for {
		select {
		case <-q.stop:
			return
		case <-q.wake:
		}
		q.mu.Lock()
		batch := q.pending
		q.pending = nil
		q.mu.Unlock()
		for _, e := range batch {
			select {
			case <-q.stop:
				return
			default:
			}
			q.handler.HandleEvent(e)
		}
	}
}

// close stops delivery and waits for a handler call in progress.
func (q *eventQueue) close() {
	close(q.stop)
	<-q.done
}

// memberRecord is the table entry behind a Member.
type memberRecord struct {
	Member
	// suspectUntil is when a local suspicion lapses (see StateSuspect).
	suspectUntil time.Time
}

func formatAddr(ip net.IP, port uint16) string {
	return net.JoinHostPort(ip.String(), fmt.Sprint(port))
}
