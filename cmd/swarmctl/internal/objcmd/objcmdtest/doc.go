// Package objcmdtest holds the tests the `swarmctl secret` and `swarmctl
// config` commands share: each noun's package runs them over its own
// command, fixtures and golden files.
package objcmdtest
