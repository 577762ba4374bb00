//go:build race

package dispatcher_test

const raceEnabled = true
