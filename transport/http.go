package transport

import (
	"log"
	"net/http"
	"time"
)

// HTTPIdleTimeout is how long the cluster port's HTTP server keeps a
// connection that has no request in flight (HTTP/1.1) or no open stream
// (HTTP/2). Clients that meant to keep theirs (a manager forwarding
// writes, an agent's session, which sends a heartbeat every few seconds)
// never wait that long between requests; a client that went away without
// closing (a crashed node, a one-shot caller that left its connection in a
// pool) no longer holds a connection, a goroutine and TLS buffers on the
// manager until the process exits. Two minutes is well above any
// heartbeat period, above the 90 s after which the managers' own clients
// drop an idle connection (so the server does not race them), and short
// enough that thousands of joining nodes do not pile up connections.
const HTTPIdleTimeout = 2 * time.Minute

// HTTPReadHeaderTimeout bounds how long a client may take to send a
// request's headers, so a slow or stalled client cannot hold a connection
// open indefinitely before its first request.
const HTTPReadHeaderTimeout = 10 * time.Second

// NewHTTPServer returns the server to run on HTTPListener: h answers every
// request, errorLog (nil for the log package's default) gets the server's
// own errors. Call Serve(m.HTTPListener()) on it and Close it before the
// Mux.
func NewHTTPServer(h http.Handler, errorLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: HTTPReadHeaderTimeout,
		IdleTimeout:       HTTPIdleTimeout,
		ErrorLog:          errorLog,
	}
}
