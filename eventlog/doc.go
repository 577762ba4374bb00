// Package eventlog turns the store's change feed into Docker's swarm
// events (`docker events`): one events.Message per create, update and
// removal of a node, a service, a network, a secret or a config (one entry
// each in kinds.go), with scope "swarm", the actor's name and, for updates, the old and new values Docker reports
// (availability.old/new, replicas.old/new, image.old/new, ...).
//
// Every manager runs its own Log over its own store, which applies the
// same Raft log: a follower serves the same events, with the same times
// (the time of the command that made the change), as the leader, and its
// stream goes on across a leader change because its store does. The Log
// keeps a bounded history (Config.HistorySize events, none older than
// Config.HistoryAge) to replay `since`; older events are gone.
//
// Use:
//
//	l := eventlog.New(store, eventlog.DefaultConfig())
//	go l.Run(ctx)               // for as long as the store lives
//	past, sub := l.Subscribe(since)
//	defer sub.Close()
//	for m := range sub.C() { ... } // then sub.Err()
//
// A subscriber that falls Config.SubscriberBuffer events behind is cut
// off (its channel closes and Err says why) rather than slowing the
// others; the store's writer never waits for the Log either (the feed is
// buffered per watcher, see state.Watcher).
package eventlog
