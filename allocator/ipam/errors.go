package ipam

import "errors"

// Errors of the pools. Compare with errors.Is: they are wrapped with the
// pool and the value at fault.
var (
	// ErrExhausted is returned when a pool has nothing left: no subnet in
	// the address pools, no address in a network's subnet, no VXLAN ID, no
	// port in the dynamic range.
	ErrExhausted = errors.New("pool exhausted")
	// ErrOverlap is returned for a subnet that overlaps a subnet another
	// network holds.
	ErrOverlap = errors.New("subnet overlaps another network's")
	// ErrInUse is returned for a given address, VXLAN ID or port that is
	// already held.
	ErrInUse = errors.New("already in use")
	// ErrInvalid is returned for a subnet, range, gateway or pool that
	// cannot be used (not IPv4, too small, not inside its subnet).
	ErrInvalid = errors.New("invalid")
)
