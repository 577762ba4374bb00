// Package objcmd holds what the `swarmctl secret` and `swarmctl config`
// commands share: the two nouns keep named data the same way, so each verb
// is written once here over a Kind that says what differs (the noun, the
// client calls, the listing and the help texts). The secret and config
// packages keep one file per verb, each building its verb from here.
package objcmd
