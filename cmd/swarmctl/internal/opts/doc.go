// Package opts parses the values of swarmctl's flags into Docker API types:
// KEY=VALUE lists, CPU and memory amounts, published ports, mounts and
// placement preferences. Every parser returns an error that quotes the
// value and says what shape was expected, so cobra can print it next to
// the flag's name. The package is pure: no I/O, safe for concurrent use.
package opts
