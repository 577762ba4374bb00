package api

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/shoal-dev/shoal/eventlog"
)

// EventSource is the optional part of a Backend that serves GET /events:
// the manager's event log, which follows its own store (so a follower
// serves the same events as the leader). A backend without it answers
// GET /events with 501.
type EventSource interface {
	// Events returns the log, or nil if this node has none.
	Events() *eventlog.Log
}

// eventFilterKeys are the filters of GET /events, Docker's set. The keys
// of objects shoal has no events for (containers, images, volumes,
// plugins, the daemon) are accepted and match nothing, as on a Docker
// manager they match no swarm event.
var eventFilterKeys = []string{"config", "container", "daemon", "event", "image", "label", "network", "node",
	"plugin", "scope", "secret", "service", "type", "volume"}

// nameFilterKeys are the filters that match an event's actor by ID or name
// prefix.
var nameFilterKeys = []string{"config", "container", "daemon", "image", "network", "node", "plugin", "secret", "service", "volume"}

// eventFilter is a parsed ?filters= of GET /events.
type eventFilter struct{ f filters.Args }

// match is Docker's events filter: every key given must match.
func (ef eventFilter) match(m *events.Message) bool {
	f := ef.f
	if !f.ExactMatch("event", string(m.Action)) || !f.ExactMatch("type", string(m.Type)) ||
		!f.ExactMatch("scope", m.Scope) || !f.MatchKVList("label", m.Actor.Attributes) {
		return false
	}
	for _, k := range nameFilterKeys {
		if !f.FuzzyMatch(k, m.Actor.ID) && !f.FuzzyMatch(k, m.Actor.Attributes["name"]) {
			return false
		}
	}
	return true
}

// streamEvents answers GET /events?since=&until=&filters=: the events of
// the history from since (and up to until), then, unless until is past,
// the live events until until or until the client goes. Each event is one
// JSON object, flushed as it comes.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) error {
	src, ok := s.backend.(EventSource)
	var log *eventlog.Log
	if ok {
		log = src.Events()
	}
	if log == nil {
		return &Error{Status: http.StatusNotImplemented, Msg: "events are not served by this node"}
	}
	f, err := filtersParam(r, eventFilterKeys...)
	if err != nil {
		return err
	}
	for _, v := range f.Get("type") {
		if _, ok := slices.BinarySearch(eventTypes, v); !ok {
			return filterError("type", v, "one of "+strings.Join(eventTypes, ", "))
		}
	}
	for _, v := range f.Get("scope") {
		if v != "swarm" && v != "local" {
			return filterError("scope", v, "local or swarm")
		}
	}
	ef := eventFilter{f: f}
	now := s.cfg.Clock()
	var since, until time.Time
	q := r.URL.Query()
	if v := q.Get("since"); v != "" {
		if since, err = parseSince(v); err != nil {
			return paramError("since", v, "seconds[.nanoseconds] since the epoch or an RFC 3339 time")
		}
		if since.After(now) {
			return badRequest("since time (%s) cannot be after now (%s)", v, now.Format(time.RFC3339Nano))
		}
	}
	if v := q.Get("until"); v != "" {
		if until, err = parseSince(v); err != nil {
			return paramError("until", v, "seconds[.nanoseconds] since the epoch or an RFC 3339 time")
		}
		if !since.IsZero() && until.Before(since) {
			return badRequest("until time (%s) cannot be before since time", v)
		}
	}
	// The history holds every change this manager applied, and the
	// manager has every write acknowledged before the request (the read
	// barrier; without a quorum, what it has): a replay right after a write
	// includes it.
	if err := s.backend.ReadBarrier(r.Context()); err != nil {
		s.log.Debug("events without a read barrier", "err", err)
	}
	wctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	err = log.WaitFor(wctx, s.backend.Store().Index())
	cancel()
	if err != nil && r.Context().Err() != nil {
		return nil
	}
	replayFrom := since
	if replayFrom.IsZero() && !until.IsZero() {
		replayFrom = time.Unix(0, 1) // until alone replays the history up to it
	}
	past, sub := log.Subscribe(replayFrom)
	defer sub.Close()

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	flush := func() { _ = rc.Flush() }
	flush()
	enc := json.NewEncoder(w)
	write := func(m *events.Message) bool {
		if !ef.match(m) {
			return true
		}
		if err := enc.Encode(m); err != nil {
			return false
		}
		flush()
		return true
	}
	// The history is in the order the changes were applied; their times
	// come from the managers that proposed them and may be a little out of
	// order, so an event past until does not end the replay.
	for i := range past {
		if until.IsZero() || past[i].TimeNano <= until.UnixNano() {
			if !write(&past[i]) {
				return nil
			}
		}
	}
	if !until.IsZero() && !until.After(now) {
		return nil
	}
	var timeout <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(until.Sub(now))
		defer t.Stop()
		timeout = t.C
	}
	for {
		select {
		case m, ok := <-sub.C():
			if !ok {
				s.log.Info("events stream ended", "err", sub.Err())
				return nil
			}
			if !until.IsZero() && m.TimeNano > until.UnixNano() {
				return nil
			}
			if !write(&m) {
				return nil
			}
		case <-timeout:
			return nil
		case <-r.Context().Done():
			return nil
		}
	}
}

// eventTypes are the types GET /events?filters={"type":...} accepts.
var eventTypes = slices.Sorted(slices.Values([]string{"builder", "config", "container", "daemon", "image",
	"network", "node", "plugin", "secret", "service", "volume"}))
