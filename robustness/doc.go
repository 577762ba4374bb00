// Package robustness is shoal's fault-injection suite: nothing
// acknowledged is ever lost and the history of service operations stays
// linearizable while managers crash, restart, pause and get partitioned
// (in-process over a simulated network, multi-process with iptables).
// The suite lives in this package's tests; README.md says exactly what it
// checks, how to run it and how to replay a seed.
package robustness
