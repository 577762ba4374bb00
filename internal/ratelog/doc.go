// Package ratelog turns a flood of log lines of one kind into a few: the
// first event of a quiet period is logged in full, the ones that follow
// within the interval are only counted, and one summary line per interval
// says how many there were and from how many sources ("refused 123 joins
// from 4 sources in the last 10s").
//
// It exists for events a stranger can cause at will on a manager's cluster
// port (refused joins, failed TLS handshakes): one line per event would let
// anyone fill the disk and bury the lines that matter.
//
// Use one Summary per kind of event, call Add for each event and Close when
// the component stops (it logs what is still counted). A Summary is safe
// for concurrent use.
package ratelog
