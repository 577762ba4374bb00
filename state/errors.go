package state

import (
	"errors"
	"fmt"
)

// Code classifies a store error so that it survives the trip through the
// Raft log and across managers: an error coded on the leader is matched with
// errors.Is against the same sentinel on the manager that forwarded the write.
type Code string

// Error codes.
const (
	CodeNotFound     Code = "not_found"
	CodeExists       Code = "exists"
	CodeNameConflict Code = "name_conflict"
	CodeSequence     Code = "sequence"
	CodeInvalid      Code = "invalid"
	CodeConflict     Code = "conflict"
)

// Error is a coded store error.
type Error struct {
	Code Code   `json:"code"`
	Msg  string `json:"msg"`
}

func (e *Error) Error() string { return e.Msg }

// Is matches errors by code, so a decoded error matches its sentinel.
func (e *Error) Is(target error) bool {
	var t *Error
	if errors.As(target, &t) {
		return t.Code == e.Code && (t.Msg == e.Msg || isSentinel(t))
	}
	return false
}

// Sentinel errors of the store. Compare with errors.Is.
var (
	// ErrNotFound is returned for an object that does not exist.
	ErrNotFound = &Error{Code: CodeNotFound, Msg: "object not found"}
	// ErrExists is returned when creating an object whose ID exists.
	ErrExists = &Error{Code: CodeExists, Msg: "object already exists"}
	// ErrNameConflict is returned when a name is taken.
	ErrNameConflict = &Error{Code: CodeNameConflict, Msg: "name conflicts with an existing object"}
	// ErrSequence is returned when an update names a version that is not the
	// stored one. Clients match its text, which is Docker's.
	ErrSequence = &Error{Code: CodeSequence, Msg: "update out of sequence"}
	// ErrInvalid is returned for a malformed command.
	ErrInvalid = &Error{Code: CodeInvalid, Msg: "invalid command"}
	// ErrConflict is returned when a precondition other than the version
	// does not hold (e.g. tasks made from a spec that has since changed).
	ErrConflict = &Error{Code: CodeConflict, Msg: "precondition failed"}
)

func isSentinel(e *Error) bool {
	switch e {
	case ErrNotFound, ErrExists, ErrNameConflict, ErrSequence, ErrInvalid, ErrConflict:
		return true
	}
	return false
}

// errorf returns a coded error whose message adds detail to the sentinel's.
func errorf(sentinel *Error, format string, args ...any) *Error {
	return &Error{Code: sentinel.Code, Msg: fmt.Sprintf(format, args...)}
}
