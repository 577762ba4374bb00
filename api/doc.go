// Package api serves the swarm subset of the Docker Engine API, so that the
// stock docker CLI (and other Docker clients) drive a shoal cluster. Every
// manager serves it, on a unix socket in its data directory and optionally
// on a TCP port with mutual TLS.
//
// # Use
//
// The manager implements Backend (its Raft node, membership, log broker
// and metrics registry), and EventSource (its eventlog.Log) for
// GET /events, and serves:
//
//	srv := api.NewServer(backend, cfg)           // cfg from api.DefaultConfig()
//	l, err := api.ListenUnix(filepath.Join(dataDir, api.SocketName)) // mode 0600
//	go srv.Serve(ctx, l)                         // returns when ctx ends
//	// optionally: srv.Serve(ctx, tls.NewListener(tcp, mtlsConfig))
//
// Handler returns the plain http.Handler for other arrangements. The
// server holds no state of its own: every answer comes from the store.
//
// A worker serves the same routes on its own socket, as a Docker worker's
// does: its node's daemon implements Worker (the node as its agent sees
// it, and its Docker engine) and serves api.NewWorkerServer(worker, cfg).
// /_ping (Swarm: active/worker), /version and /info answer, /info being
// the engine's with the Swarm section Docker fills on a worker (NodeID,
// NodeAddr, LocalNodeState pending until the agent's first session, then
// active, Error while it has none, RemoteManagers, ControlAvailable false);
// every "M" route below answers 503 with Docker's message for workers.
//
// # How a request is served
//
//	client -> /vX.Y prefix stripped (1.24 <= X.Y <= 1.41, else 400)
//	       -> route; cluster routes refuse a node that is not a manager (503)
//	       -> reads:  Backend.ReadBarrier, then a store View (linearizable)
//	          writes: decode (strict) -> api/convert -> scheduler placement
//	                  checks -> state.Command -> Backend.Propose; the
//	                  operation checks ?version= and name uniqueness when
//	                  the Raft log applies it. A service or node update
//	                  reads the local store without a barrier when it has
//	                  the object at ?version= (the FSM's check covers it),
//	                  else after one
//	       -> JSON answer, or {"message": ...} with the status below
//
// The server announces API 1.41 (Docker 20.10); docker 28 then speaks 1.41,
// the version whose requests api/convert/testdata/cli recorded. Bodies are
// decoded strictly: an unknown field is refused (400), never dropped, and
// every body the CLI sends is known (TestCLIBodies).
//
// # Endpoints
//
// Served with and without the /vX.Y prefix. "M" marks the routes that
// need a manager (else 503 with Docker's message for workers or nodes
// outside a swarm); every one of them may also answer 503 when the
// managers have no quorum (the message says how many are reachable).
//
//	HEAD|GET /_ping                         200 "OK"; Api-Version, Ostype, Docker-Experimental, Swarm, Cache-Control
//	GET  /version                           200
//	GET  /info                              200; a swarm problem shows in Swarm.Error, never as a failure
//	GET  /metrics                           200 Prometheus text
//	GET  /swarm                           M 200; 503 before the cluster object exists
//	POST /swarm/update?version=&rotateWorkerToken=&rotateManagerToken=&rotateManagerUnlockKey=
//	                                      M 200; 400 bad spec/flag/version, 409 stale version
//	GET  /swarm/unlockkey                 M 200 {UnlockKey}; 404 when autolock is off
//	POST /swarm/init, /swarm/join           503 (in a swarm) or 400: done with the shoal binaries
//	POST /swarm/leave                       503: demote, stop, docker node rm
//	POST /swarm/unlock                      409 "swarm is not locked" (a running manager is unlocked)
//	GET  /services?filters=&status=       M 200; filters id, name (prefix), label, mode, runtime
//	POST /services/create                 M 201 {ID, Warnings}; 400 bad spec, 409 name in use
//	GET  /services/{ref}?insertDefaults=  M 200; 404, 400 ambiguous prefix
//	POST /services/{ref}/update?version=&rollback=previous
//	                                      M 200 {Warnings}; 400 bad spec, rename, mode change,
//	                                        no previous spec; 404; 409 stale version
//	DELETE /services/{ref}                M 200; 404
//	GET  /services/{ref}/logs, /tasks/{ref}/logs
//	                                      M 200 stream (stdcopy-multiplexed unless TTY); 400 bad options, 404
//	GET  /tasks?filters=                  M 200; filters id, name, label, service, node, desired-state,
//	                                        _up-to-date, runtime; 404 for a service or node filter naming nothing
//	GET  /tasks/{ref}                     M 200; 404, 400 ambiguous
//	GET  /nodes?filters=                  M 200; filters id, name, role, membership, label, node.label
//	GET  /nodes/{ref}                     M 200; 404, 400 ambiguous
//	POST /nodes/{ref}/update?version=     M 200; 400 bad spec, last manager, loss of quorum; 404; 409 stale
//	DELETE /nodes/{ref}?force=            M 200; 400 manager not demoted, node not down without force; 404
//	GET  /distribution/{image}/json       M 200 for an image given by digest; 404 for a tag (the CLI warns)
//	GET  /networks?filters=               M 200; filters name, id (regexps, as Docker), label, driver,
//	                                        scope, type (custom, builtin), dangling; every network is overlay, scope swarm
//	POST /networks/create                 M 201 {Id, Warning}; 400 bad request (driver other than overlay,
//	                                        options, IPAM), 409 name in use or a second ingress network
//	GET  /networks/{ref}?scope=&verbose=  M 200 Docker's NetworkResource; 404 (also for scope=local), 400 ambiguous
//	DELETE /networks/{ref}                M 204; 404; 409 while a service names it or a running task is attached
//	GET  /secrets?filters=, /configs?filters=
//	                                      M 200; filters id (prefix), name (prefix), names (exact), label.
//	                                        A secret's Data is never in any answer; a config's is
//	POST /secrets/create, /configs/create M 201 {ID}; 400 bad name (64 chars of [a-zA-Z0-9-_.]) or size
//	                                        (secret < 500 KiB, config < 1000 KiB), 409 name in use
//	GET  /secrets/{ref}, /configs/{ref}   M 200; 404, 400 ambiguous
//	POST /secrets/{ref}/update?version=, /configs/{ref}/update?version=
//	                                      M 200; labels only: 400 "only updates to Labels are allowed"; 409 stale
//	DELETE /secrets/{ref}, /configs/{ref} M 204; 404; 409 while a service references it
//	GET  /events?since=&until=&filters=   M 200 stream of events.Message, one JSON object a line: the history
//	                                        from since (to until), then live events until until or the client
//	                                        goes; filters type, event, scope, service, node, network, secret,
//	                                        config, label (container, image, volume, plugin, daemon match
//	                                        nothing); 400 bad time or filter; 501 without an EventSource
//
// Any other path answers 404 {"message": "page not found: ..."}; a body
// over Config.MaxBodyBytes 413; malformed JSON, an unknown field, an
// unknown filter key or a refused spec field 400, naming the field.
//
// # References and filters
//
// A {ref} resolves as Docker resolves it: the full ID, then the name (a
// node's hostname, compared case-insensitively), then a unique ID prefix;
// several matches answer 400 "service x is ambiguous (2 matches found)".
// A service spec's network targets resolve the same way to IDs, and its
// secret and config references by ID or exact name, as dockerd resolves
// them before SwarmKit sees the spec; an unknown one answers 404 ("network
// appnet not found").
// Filters are Docker's JSON ({"name":{"web":true}}): keys AND, values of a
// key OR, labels all required. Unknown keys are refused, as Docker does.
//
// # Writes
//
// The server builds commands; the store applies them only if their
// preconditions still hold, so concurrent writers never overwrite each
// other and a stale ?version= answers 409 "update out of sequence" (the
// text clients match; Docker answers it with 500 only because SwarmKit's
// error has no code).
//
//   - service create: OpCreateService with a new ID; the store refuses a
//     name in use (409), atomically.
//   - service update: OpUpdateService at ?version=. A changed spec keeps
//     the old one as PreviousSpec (and its SpecVersion) and resets
//     UpdateStatus to nil, which the orchestrator then owns; a spec sent
//     unchanged changes nothing. rollback=previous ignores the body (the
//     CLI sends the current spec), swaps Spec and PreviousSpec and sets
//     UpdateStatus rollback_started, "manually requested rollback".
//   - service rm: OpDeleteService; tasks on nodes get desired state REMOVE.
//   - node update: OpUpdateNode at ?version=, with the role as
//     Spec.DesiredRole; the managers carry promotions and demotions out.
//     Demoting the last manager, or a manager without which the others
//     would not reach a quorum, is refused with SwarmKit's messages.
//   - node rm: OpDeleteNode (which records the node as removed, so its
//     certificate is refused). A demoted node still in the Raft group is
//     first taken out with Backend.RemoveManager.
//   - swarm update: OpUpdateCluster at ?version=, merged by
//     convert.ClusterSpecFromDocker; rotated join tokens are new secrets
//     for the cluster's root CA (ca.GenerateJoinToken); turning autolock
//     on makes an unlock key, rotateManagerUnlockKey a new one, and
//     turning it off clears it. The managers rewrap their data keys when
//     the key changes.
//
// # Logs
//
// GET /services/{ref}/logs streams what Backend.SubscribeLogs sends, in
// Docker's format: optional RFC 3339 timestamp, optional details
// (com.docker.swarm.node.id, .service.id and .task.id first among the
// line's attributes, which the CLI needs to name tasks), the line; each
// line one stdcopy frame on stdout or stderr, or raw for a TTY service.
// An error after the stream started is written on stdcopy's system error
// stream, as Docker does. Streams end when the client leaves or the
// server shuts down.
//
// # Metrics
//
// shoal_api_request_duration_seconds{route,method,code} (route is the
// pattern, e.g. /services/{id}), and gauges read from the local store on
// each scrape: shoal_tasks{state}, shoal_nodes{status,role},
// shoal_services{mode}, shoal_store_index. /metrics serves the backend's
// gatherer, so the manager's own metrics (Raft...) appear beside them.
package api
