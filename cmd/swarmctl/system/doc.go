// Package system holds swarmctl's cluster-wide commands that belong to no
// object: events.
package system
