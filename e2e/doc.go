// Package e2e holds the end-to-end tests: real manager and worker processes
// on loopback (internal/proctest), driven through the Docker Engine API
// with the Docker client library and the stock docker CLI, running real
// containers on the local Docker daemon.
package e2e
