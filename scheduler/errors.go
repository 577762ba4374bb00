package scheduler

import (
	"errors"

	"github.com/shoal-dev/shoal/internal/lifecycle"
)

// Errors of the scheduler. Compare with errors.Is: the functions that return
// them wrap them with the expression or task at fault.
var (
	// ErrInvalidConstraint is returned by ParseConstraints and
	// ValidatePlacement for a constraint that cannot be parsed.
	ErrInvalidConstraint = errors.New("scheduler: invalid constraint")
	// ErrInvalidPreference is returned by ValidatePlacement for a placement
	// preference the scheduler cannot spread over.
	ErrInvalidPreference = errors.New("scheduler: invalid placement preference")
	// ErrMixedGroup is returned by PlaceTasks when the tasks it is given do
	// not all share one service and one spec version.
	ErrMixedGroup = errors.New("scheduler: tasks of a group must share service and spec version")
	// ErrUnknownStrategy is returned by PlaceTasks for a placement strategy
	// other than spread and binpack.
	ErrUnknownStrategy = errors.New("scheduler: unknown placement strategy")
	// ErrInvalidConfig is returned by Config.Validate, and so by Run, for
	// a Config that cannot work.
	ErrInvalidConfig = errors.New("scheduler: invalid config")
	// ErrStopped is returned by Run after Stop.
	ErrStopped = lifecycle.ErrStopped
	// ErrRunning is returned by Run while another Run of the same
	// Scheduler is in progress.
	ErrRunning = lifecycle.ErrRunning
)
