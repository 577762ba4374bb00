// Package testutil holds what many packages' tests share: a logger that
// writes to the test's log (Logger), a fake clock for the leader
// components (FakeClock), and node certificates from a test root
// (IssueNode). Only tests import it.
package testutil
