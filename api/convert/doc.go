// Package convert translates between the Docker Engine API's swarm types
// (github.com/docker/docker/api/types/swarm, v28) and shoal's data model
// (package model), and validates what Docker clients send.
//
// It is what lets the stock docker CLI drive a shoal cluster: a manager's
// HTTP server decodes a request body into a Docker type, calls a FromDocker
// function, stores the result, and answers reads with a ToDocker function.
// The package has no state and does no I/O; every function is safe for
// concurrent use and neither modifies nor retains its arguments, except
// InsertServiceDefaults, which fills in the spec it is given.
//
// # Use
//
//	POST /services/create, /services/{id}/update   ServiceSpecFromDocker
//	GET  /services, /services/{id}                  ServiceToDocker (+ InsertServiceDefaults if ?insertDefaults=true)
//	GET  /tasks, /tasks/{id}                        TaskToDocker
//	GET  /nodes, /nodes/{id}                        NodeToDocker (fill ManagerStatus.Leader and Reachability first)
//	POST /nodes/{id}/update                         NodeSpecFromDocker
//	GET  /swarm, the Swarm.Cluster of GET /info     ClusterToDocker
//	POST /swarm/update                              ClusterSpecFromDocker(spec, current)
//
// The server, not this package, checks ?version= against the stored
// Version.Index ("update out of sequence"), refuses duplicate names (409),
// applies ?rotateWorkerToken= and friends, and handles
// `docker service update --rollback`, which sends the current spec
// unchanged with ?rollback=previous: the server must restore PreviousSpec.
// The X-Registry-Auth header (sent with --with-registry-auth) is not part
// of the spec and is ignored here.
//
// # Errors
//
// FromDocker functions refuse rather than drop: a non-zero value shoal does
// not implement is an error, so a user never believes a setting is in force
// when it is not. Zero and empty values are accepted, because the CLI sends
// many of them with every request ("Init": false, "DNSConfig": {},
// "Resources": {"Limits": {}, "Reservations": {}}, "Placement": {},
// "EndpointSpec": {"Mode": "vip"}). Every refused field of a request is
// reported at once: the error joins one *FieldError per field, whose Field
// is the field's path in the JSON body (for example
// "TaskTemplate.ContainerSpec.Mounts[1].Type") and whose Kind is
// ErrUnsupported (valid for Docker, not implemented by shoal) or ErrInvalid
// (Docker would refuse it too). Both are client errors (HTTP 400); the
// message names the CLI flag where there is one.
//
// # Service specs
//
// Supported, and round-tripping unchanged through
// ServiceSpecToDocker(ServiceSpecFromDocker(x)):
//
//   - Name (required; [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 63 characters) and
//     Labels.
//   - TaskTemplate.ContainerSpec: Image (required, a valid reference; the
//     CLI pins it by digest), Labels, Command (--entrypoint), Args (the
//     words after the image), Hostname (templates kept as written), Env,
//     Dir, User, TTY, ReadOnly, Init, StopSignal, StopGracePeriod,
//     Healthcheck (Test NONE|CMD|CMD-SHELL; durations 0 or >= 1ms), Mounts
//     of type bind (absolute source), volume (named or anonymous) and tmpfs
//     (no source), each with an absolute, unique target and ReadOnly.
//   - TaskTemplate.Resources: Limits NanoCPUs, MemoryBytes, Pids;
//     Reservations NanoCPUs, MemoryBytes. Non-zero CPUs must be at least
//     0.001, memory at least 4 MiB, as in SwarmKit.
//   - TaskTemplate.RestartPolicy: Condition any|on-failure|none (empty means
//     any, as in Docker), Delay, MaxAttempts, Window.
//   - TaskTemplate.Placement: Constraints (kept as strings, checked for the
//     shape attr==value or attr!=value), spread Preferences, MaxReplicas
//     (replicated services only), Platforms.
//   - TaskTemplate.ForceUpdate and Runtime ("" or "container").
//   - Mode: Replicated (no count means 1, as in Docker) or Global.
//   - UpdateConfig and RollbackConfig: nil stays nil (the orchestrator then
//     uses model.DefaultUpdateConfig). When present, Parallelism and
//     MaxFailureRatio are taken as given (0 parallelism means all at once),
//     and an empty FailureAction, zero Monitor and empty Order become pause,
//     5s and stop-first. A rollback cannot have the failure action rollback.
//   - EndpointSpec: Mode vip (stored as empty), dnsrr or empty, and Ports
//     (protocol tcp by default, udp, sctp; PublishMode ingress, the
//     default as in Docker, or host; a published port used twice is
//     refused, and so are ingress ports with dnsrr, as Docker refuses them).
//   - TaskTemplate.Networks (Target, Aliases), or the deprecated top-level
//     Networks when TaskTemplate.Networks is empty. Targets are kept as sent:
//     the API resolves names to IDs.
//   - ContainerSpec.Secrets and Configs: file references (Name, UID, GID,
//     Mode) by ID or name, a target file used once.
//
// Accepted although not stored, because they mean nothing on Linux:
// Isolation and mount Consistency "default".
//
// Refused, with the reason:
//
//   - NetworkAttachmentSpec, per-attachment DriverOpts, config Runtime
//     targets (credential specs).
//   - UpdateConfig and RollbackConfig of a job: an update of a job runs it
//     again, it has no rolling update (Mode.ReplicatedJob takes Docker's
//     defaults: MaxConcurrent 1, TotalCompletions MaxConcurrent).
//   - Runtime plugin or attachment, PluginSpec: containers only.
//   - Privileges, CapabilityAdd/Drop, Sysctls, Ulimits, OomScoreAdj, Groups,
//     OpenStdin, Hosts, non-empty DNSConfig, Isolation other than default,
//     TaskTemplate.LogDriver: the data model has no field for them, and
//     storing them nowhere would ignore them silently.
//   - Reservations.GenericResources: the scheduler counts CPU and memory
//     only.
//   - Mount types other than bind, volume and tmpfs, and any Bind-, Volume-,
//     Tmpfs-, Image- or ClusterOptions (tmpfs-size, volume-nocopy,
//     propagation...).
//
// # Extensions
//
// shoal's own service settings travel as labels, because Docker's API has
// no field for them; they stay visible in the service's labels:
//
//	io.shoal.rebalance=true|false           ServiceSpec.Rebalance
//	io.shoal.placement.strategy=spread|binpack  ServiceSpec.Strategy
//
// On the cluster, io.shoal.rebalance sets OrchestrationConfig.Rebalance.
// Other values, and unknown labels under io.shoal., are refused, so a typo
// does not silently leave a setting off. On the way out the fields are
// authoritative: a spec written through shoal's own API shows the labels.
//
// # Cluster specs
//
// ClusterSpecFromDocker merges into the current spec as Docker does: an
// empty Name or Labels, a nil TaskHistoryRetentionLimit or
// KeepOldSnapshots, and a zero SnapshotInterval, HeartbeatPeriod or
// NodeCertExpiry keep the current value; AutoLockManagers is taken as sent
// (the CLI always sends it). The cluster cannot be renamed, certificates
// must last at least an hour, and external CAs, a new signing CA, root CA
// rotation (ForceRotate), task-default log drivers and changes to the Raft
// ticks (shown for compatibility; the managers' own settings time
// elections) are refused. Raft.LogEntriesForSlowFollowers is shown as 0 and
// accepted as 0 or Docker's default 500. The gossip settings, which Docker
// has no field for, are kept.
//
// # Reads
//
// ToDocker functions shape their answers like a Docker engine's, because
// the CLI edits what it reads and sends it back whole: labels are never
// null, Resources and Placement are always present, Runtime is
// "container", EndpointSpec.Mode is "vip". Task annotations are empty, as in
// Docker (the CLI names tasks service.slot). Service.Endpoint repeats the
// spec's host ports; the ports actually bound are in each task's
// PortStatus. TLS information (trust root, issuer subject and public key)
// is derived from the root CA certificate's PEM.
//
// # Golden inputs
//
// testdata/cli holds the request bodies the docker 28 CLI sent for every
// command the package must handle, captured against the fake engine in
// internal/clirecorder (see testdata/cli/README.md; regenerate with
// go test ./api/convert -run TestRecordCLI -record). The tests feed each
// one through the FromDocker functions; TestCLIAgainstConvert also runs the
// installed CLI against the fake with this package behind it, so that what
// the CLI reads is our output and what it sends back must be accepted.
package convert
