package command

import (
	"fmt"
	"strings"

	"github.com/docker/docker/client"
)

// daemonPrefix is how the Docker client prefixes the message a server sent.
// The manager's messages are written for users, so they are shown without
// it, verbatim.
const daemonPrefix = "Error response from daemon: "

// UserMessage is the message printed for err: the server's own message for
// an API error, advice for a manager that cannot be reached, and the error
// itself otherwise. host is the manager address, for the advice.
func UserMessage(err error, host string) string {
	if err == nil {
		return ""
	}
	if client.IsErrConnectionFailed(err) {
		return fmt.Sprintf("cannot reach the manager at %s: is it running, and is -H or %s right?", host, EnvHost)
	}
	msg := err.Error()
	// The prefix may follow context a command added ("web: Error response
	// from daemon: ..."); keep the context, drop the prefix.
	return strings.Replace(msg, daemonPrefix, "", 1)
}
