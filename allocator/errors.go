package allocator

import "errors"

// Errors of the allocator. Compare with errors.Is: they are wrapped with
// the object and the pool at fault.
var (
	// ErrInvalidConfig is returned by Config.Validate, and so by Run.
	ErrInvalidConfig = errors.New("allocator: invalid config")
	// ErrStopped is returned by Run after Stop.
	ErrStopped = errors.New("allocator: stopped")
	// ErrRunning is returned by Run while another Run of the same
	// Allocator is in progress.
	ErrRunning = errors.New("allocator: already running")
)
