// Package command is what every swarmctl command shares: the Env a command
// runs in (its output streams, its clock and the manager it talks to), the
// global connection flags, and the translation of client errors into
// messages for users.
//
// A noun package (service, node, cluster) builds its cobra commands from an
// *Env. Commands ask the Env for a Client inside RunE, after cobra parsed
// the flags, so that -H and the --tls* flags are known; the Env dials once
// and the root command closes the client when the command returns. Tests
// build an Env around a fake Client with NewEnv and a fixed clock.
package command
