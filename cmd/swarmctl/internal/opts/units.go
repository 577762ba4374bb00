package opts

import (
	"fmt"
	"math"
	"math/big"
	"strconv"

	units "github.com/docker/go-units"
)

// NanoCPUs is a CPU amount given in CPUs ("0.5", "2") and kept in
// billionths, as the Docker API wants it. It implements pflag.Value.
type NanoCPUs int64

// String prints the amount in CPUs.
func (n *NanoCPUs) String() string {
	if *n == 0 {
		return ""
	}
	return big.NewRat(int64(*n), 1e9).FloatString(3)
}

// Set parses an amount in CPUs.
func (n *NanoCPUs) Set(s string) error {
	r, ok := new(big.Rat).SetString(s)
	if !ok || r.Sign() < 0 {
		return fmt.Errorf("%q: want a number of CPUs such as 0.5 or 2", s)
	}
	nano := new(big.Rat).Mul(r, big.NewRat(1e9, 1))
	if !nano.IsInt() {
		return fmt.Errorf("%q: too precise, CPUs are counted in billionths", s)
	}
	if !nano.Num().IsInt64() {
		return fmt.Errorf("%q: too large", s)
	}
	*n = NanoCPUs(nano.Num().Int64())
	return nil
}

// Type names the value in help.
func (n *NanoCPUs) Type() string { return "cpus" }

// MemBytes is a memory size given with a unit ("64M", "1.5GiB"; a bare
// number is bytes). It implements pflag.Value.
type MemBytes int64

// String prints the size in binary units.
func (m *MemBytes) String() string {
	if *m == 0 {
		return ""
	}
	return units.BytesSize(float64(*m))
}

// Set parses a size; units are binary (1M = 1 MiB), as in Docker.
func (m *MemBytes) Set(s string) error {
	v, err := units.RAMInBytes(s)
	if err != nil || v < 0 {
		return fmt.Errorf("%q: want a size such as 64M or 1.5G", s)
	}
	*m = MemBytes(v)
	return nil
}

// Type names the value in help.
func (m *MemBytes) Type() string { return "bytes" }

// Uint64 is an unsigned integer flag whose zero value can be told apart
// from "not given" with cobra's Changed. It implements pflag.Value with a
// clearer message than pflag's for negative or malformed numbers.
type Uint64 uint64

// String prints the number.
func (u *Uint64) String() string { return strconv.FormatUint(uint64(*u), 10) }

// Set parses a non-negative integer.
func (u *Uint64) Set(s string) error {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%q: want a whole number, 0 or more", s)
	}
	*u = Uint64(v)
	return nil
}

// Type names the value in help.
func (u *Uint64) Type() string { return "uint" }

// Ratio is a fraction between 0 and 1. It implements pflag.Value.
type Ratio float32

// String prints the fraction.
func (r *Ratio) String() string { return strconv.FormatFloat(float64(*r), 'g', -1, 32) }

// Set parses a fraction between 0 and 1.
func (r *Ratio) Set(s string) error {
	v, err := strconv.ParseFloat(s, 32)
	if err != nil || v < 0 || v > 1 || math.IsNaN(v) {
		return fmt.Errorf("%q: want a fraction between 0 and 1", s)
	}
	*r = Ratio(v)
	return nil
}

// Type names the value in help.
func (r *Ratio) Type() string { return "ratio" }
