// Package caserver serves the cluster CA's endpoints on a manager's
// cluster port: the root certificate to anyone, a node certificate to a
// holder of a join token (recording the new node in the store), renewals
// to nodes, and rejoins of nodes whose certificate expired while they were
// offline. It reads the replicated store and proposes commands, so it is
// apart from package ca, which nodes (workers included) use for keys,
// certificates, TLS and the client side of these endpoints.
//
// A source (IP address) whose join, rejoin or renewal was refused waits
// before its next attempt is looked at (BackoffConfig), and refusals are
// logged as one summary per interval (internal/ratelog), so a stranger
// cannot make a manager do work or write logs at will.
package caserver
