package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/model"
)

// Binary encoding primitives of snapshots (format 2) and log entries
// (command format 1): unsigned and zigzag varints, length-prefixed
// strings, strings from a table of the ones already written (the IDs and
// messages that 100k tasks repeat), and times as time.Time's binary form.

// encoder appends to buf.
type encoder struct {
	buf []byte
	// syms numbers the strings written with sym, from 1.
	syms map[string]uint64
	// format is the command format being written (0 for snapshots).
	format byte
}

func (e *encoder) byte(b byte)      { e.buf = append(e.buf, b) }
func (e *encoder) uvarint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }
func (e *encoder) varint(v int64)   { e.buf = binary.AppendVarint(e.buf, v) }
func (e *encoder) bool(b bool)      { e.byte(boolByte(b)) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.buf = append(e.buf, s...) }
func (e *encoder) bytes(b []byte)   { e.uvarint(uint64(len(b))); e.buf = append(e.buf, b...) }
func (e *encoder) time(t time.Time) { e.buf, _ = t.AppendBinary(e.buf) }
func (e *encoder) strs(ss []string) {
	e.uvarint(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}
func (e *encoder) taskState(s model.TaskState) { e.varint(int64(s)) }

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// sym writes s as a reference to the table of strings written so far,
// adding it if it is new: 0 and the string, or its number.
func (e *encoder) sym(s string) {
	if n, ok := e.syms[s]; ok {
		e.uvarint(n)
		return
	}
	if e.syms == nil {
		e.syms = map[string]uint64{}
	}
	e.syms[s] = uint64(len(e.syms) + 1)
	e.uvarint(0)
	e.str(s)
}

// errTruncated is the error of a decoder that ran out of input.
var errTruncated = errors.New("truncated")

// decoder reads b from off. Its first error sticks: later reads return
// zero values, and err says what went wrong.
type decoder struct {
	b    []byte
	off  int
	err  error
	syms []string
	// shared, if set, is b as a string: strings are taken from it rather
	// than copied one by one (a 100k-task command's IDs in one
	// allocation).
	shared string
	// format is the command format being read (0 for snapshots).
	format byte
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.off = len(d.b)
}

func (d *decoder) byte() byte {
	if d.off >= len(d.b) {
		d.fail(errTruncated)
		return 0
	}
	c := d.b[d.off]
	d.off++
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail(errTruncated)
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail(errTruncated)
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail(errors.New("bad boolean"))
	return false
}

// raw returns the next n bytes, shared with the input.
func (d *decoder) raw(n uint64) []byte {
	if n > uint64(len(d.b)-d.off) {
		d.fail(errTruncated)
		return nil
	}
	b := d.b[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return b
}

func (d *decoder) str() string {
	n := d.uvarint()
	if n == 0 {
		return ""
	}
	if d.shared != "" {
		start := d.off
		if d.raw(n) == nil {
			return ""
		}
		return d.shared[start:d.off]
	}
	return string(d.raw(n))
}

// bytes returns a copy of a length-prefixed byte string; nil if empty.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n == 0 {
		return nil
	}
	return append([]byte(nil), d.raw(n)...)
}

// strs reads a string list; nil if empty, as JSON's omitempty gives.
func (d *decoder) strs() []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.str()
	}
	return ss
}

// count reads a number of items of at least min bytes each, refusing one
// that the rest of the input cannot hold, so that a corrupt count does not
// make the decoder allocate without bound.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)-d.off)/uint64(min) {
		d.fail(errTruncated)
		return 0
	}
	return int(n)
}

func (d *decoder) sym() string {
	n := d.uvarint()
	if n == 0 {
		if d.err != nil {
			return ""
		}
		s := d.str()
		d.syms = append(d.syms, s)
		return s
	}
	if n > uint64(len(d.syms)) {
		d.fail(fmt.Errorf("string %d of %d", n, len(d.syms)))
		return ""
	}
	return d.syms[n-1]
}

func (d *decoder) time() time.Time {
	// time.Time's binary form is 15 bytes, or 16 with seconds in the
	// zone offset: its first byte says which.
	var t time.Time
	if d.off >= len(d.b) {
		d.fail(errTruncated)
		return t
	}
	n := 15
	if d.b[d.off] == 2 {
		n = 16
	}
	if err := t.UnmarshalBinary(d.raw(uint64(n))); err != nil && d.err == nil {
		d.fail(fmt.Errorf("time: %w", err))
	}
	return t
}

func (d *decoder) taskState() model.TaskState { return model.TaskState(d.varint()) }
