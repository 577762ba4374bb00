// Command demoapp is shoal's demo workload: a tiny static HTTP server that
// tells which task, node and service it belongs to. It is built into a
// FROM scratch image (deploy/demoapp/Dockerfile) and used by the executor,
// agent and end-to-end tests, so every misbehaviour a test needs is a flag.
//
// Usage:
//
//	demoapp [flags]          serve HTTP
//	demoapp health [flags]   probe /health of a local demoapp, exit 0 or 1
//	demoapp probe resolve NAME | fetch URL | file PATH | latency URL | rate URL | throughput URL
//	                         look from inside the container (docker exec);
//	                         one JSON line, exit 0 or 1
//	demoapp probe load URL   send requests to URL, each failed one retried
//	                         once, until stdin closes; one JSON line
//
// Endpoints:
//
//	GET /        JSON: task name and ID, node ID, service name and ID, hostname
//	GET /health  200 "ok" while healthy, 503 after --unhealthy-after
//	GET /probe/{resolve,fetch,file,latency,rate,throughput}?arg=ARG  the probes, as JSON
//	GET /bytes?n=N  N zero bytes (what a throughput probe fetches)
//
// The identity comes from the environment the executor sets:
// SHOAL_TASK_NAME, SHOAL_TASK_ID, SHOAL_NODE_ID, SHOAL_SERVICE_NAME and
// SHOAL_SERVICE_ID. DEMOAPP_LISTEN, when set, is the default of --listen for
// both the server and the health probe, so a HEALTHCHECK without arguments
// still finds a server moved to another port.
//
// Request and tick lines go to stdout, lifecycle lines (starting, signals,
// exit) to stderr, both as log/slog text, so log tests see both streams.
// SIGTERM and SIGINT make the server exit 0; with --ignore-sigterm, SIGTERM
// is logged and ignored so that stop grace periods can be tested.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr, sigs))
}
