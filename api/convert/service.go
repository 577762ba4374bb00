package convert

import (
	"fmt"
	"regexp"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/shoal-dev/shoal/model"
)

// MaxNameLength is the longest service name, as in Docker: a name becomes
// part of task hostnames and DNS labels are limited to 63 bytes.
const MaxNameLength = 63

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// ServiceSpecFromDocker validates a service spec received from a Docker
// client (POST /services/create, POST /services/{id}/update) and converts
// it. Zero values are accepted and take Docker's defaults; a non-zero value
// shoal does not implement is refused with a *FieldError naming it. The
// returned error joins every refused field.
func ServiceSpecFromDocker(s swarm.ServiceSpec) (model.ServiceSpec, error) {
	c := &checker{}
	var out model.ServiceSpec
	checkSpecCounts(c, &s)

	switch {
	case s.Name == "":
		c.invalid("Name", "a service name is required (--name)")
	case len(s.Name) > MaxNameLength:
		c.invalid("Name", "%q is longer than %d characters", s.Name, MaxNameLength)
	case !nameRE.MatchString(s.Name):
		c.invalid("Name", "%q must start with a letter or digit and contain only letters, digits, '_', '.' and '-'", s.Name)
	}
	out.Name = s.Name
	out.Labels = cloneLabels(s.Labels)
	ext := parseShoalLabels(c, s.Labels, LabelRebalance, LabelPlacementStrategy)
	out.Rebalance = ext.rebalance
	out.Strategy = ext.strategy

	out.Mode = modeFromDocker(c, s.Mode)
	out.Task = taskSpecFromDocker(c, "TaskTemplate", s.TaskTemplate, out.IsGlobal())
	out.Update = updateConfigFromDocker(c, "UpdateConfig", s.UpdateConfig)
	out.Rollback = updateConfigFromDocker(c, "RollbackConfig", s.RollbackConfig)
	if out.IsJob() {
		c.refuse("UpdateConfig", s.UpdateConfig, "a job has no rolling updates: an update of a job runs it again (--update-* flags)")
		c.refuse("RollbackConfig", s.RollbackConfig, "a job cannot be rolled back (--rollback-* flags)")
		out.Update, out.Rollback = nil, nil
	}
	if out.Rollback != nil && out.Rollback.FailureAction == model.FailureActionRollback {
		c.invalid("RollbackConfig.FailureAction", "%q cannot be the failure action of a rollback; use pause or continue", model.FailureActionRollback)
	}
	// The top-level Networks is deprecated; dockerd still takes it for
	// TaskTemplate.Networks.
	switch {
	case len(s.Networks) > 0 && len(s.TaskTemplate.Networks) > 0:
		c.invalid("Networks", "set only TaskTemplate.Networks: the top-level Networks is deprecated")
	case len(s.Networks) > 0:
		out.Task.Networks = networksFromDocker(c, "Networks", s.Networks)
	}
	out.Endpoint = endpointSpecFromDocker(c, s.EndpointSpec)

	if err := c.err(); err != nil {
		return model.ServiceSpec{}, err
	}
	return out, nil
}

func modeFromDocker(c *checker, m swarm.ServiceMode) model.ServiceMode {
	set := 0
	for _, b := range []bool{m.Replicated != nil, m.Global != nil, m.ReplicatedJob != nil, m.GlobalJob != nil} {
		if b {
			set++
		}
	}
	switch {
	case set > 1:
		c.invalid("Mode", "only one of Replicated, Global, ReplicatedJob and GlobalJob may be set")
		return model.ServiceMode{}
	case m.Global != nil:
		return model.ServiceMode{Global: &model.GlobalService{}}
	case m.GlobalJob != nil:
		return model.ServiceMode{GlobalJob: &model.GlobalJob{}}
	case m.ReplicatedJob != nil:
		// Docker's defaults: one at a time, and as many completions as
		// may run at once.
		job := &model.ReplicatedJob{MaxConcurrent: 1}
		if p := m.ReplicatedJob.MaxConcurrent; p != nil {
			job.MaxConcurrent = *p
		}
		if job.MaxConcurrent == 0 {
			c.invalid("Mode.ReplicatedJob.MaxConcurrent", "0: at least one task must be allowed to run (--max-concurrent)")
		}
		job.TotalCompletions = job.MaxConcurrent
		if p := m.ReplicatedJob.TotalCompletions; p != nil {
			job.TotalCompletions = *p
		}
		return model.ServiceMode{ReplicatedJob: job}
	case m.Replicated != nil && m.Replicated.Replicas != nil:
		return model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: *m.Replicated.Replicas}}
	default:
		// The CLI sends "Replicated": {} when --replicas is not given;
		// Docker then runs one replica.
		return model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: 1}}
	}
}

func updateConfigFromDocker(c *checker, field string, u *swarm.UpdateConfig) *model.UpdateConfig {
	if u == nil {
		return nil
	}
	out := model.DefaultUpdateConfig()
	out.Parallelism = u.Parallelism
	out.MaxFailureRatio = u.MaxFailureRatio
	if u.MaxFailureRatio < 0 || u.MaxFailureRatio > 1 {
		c.invalid(field+".MaxFailureRatio", "%v: must be between 0 and 1", u.MaxFailureRatio)
	}
	if u.Delay < 0 {
		c.invalid(field+".Delay", "%v: must not be negative", u.Delay)
	}
	out.Delay = u.Delay
	switch {
	case u.Monitor < 0:
		c.invalid(field+".Monitor", "%v: must not be negative", u.Monitor)
	case u.Monitor > 0:
		out.Monitor = u.Monitor
	}
	switch a := model.FailureAction(u.FailureAction); a {
	case "":
	case model.FailureActionPause, model.FailureActionContinue, model.FailureActionRollback:
		out.FailureAction = a
	default:
		c.invalid(field+".FailureAction", "%q: want pause, continue or rollback", u.FailureAction)
	}
	switch o := model.UpdateOrder(u.Order); o {
	case "":
	case model.UpdateOrderStopFirst, model.UpdateOrderStartFirst:
		out.Order = o
	default:
		c.invalid(field+".Order", "%q: want stop-first or start-first", u.Order)
	}
	return &out
}

func endpointSpecFromDocker(c *checker, e *swarm.EndpointSpec) *model.EndpointSpec {
	if e == nil {
		return nil
	}
	// The mode is stored only when it is not the default (vip).
	var mode model.ResolutionMode
	switch e.Mode {
	case "", swarm.ResolutionModeVIP:
	case swarm.ResolutionModeDNSRR:
		mode = model.ResolutionModeDNSRR
	default:
		c.invalid("EndpointSpec.Mode", "%q: want vip or dnsrr", e.Mode)
	}
	if len(e.Ports) == 0 && mode == "" {
		return nil
	}
	out := &model.EndpointSpec{Mode: mode}
	seen := map[string]int{}
	for i, p := range e.Ports {
		field := index("EndpointSpec.Ports", i)
		pc := portFromDocker(c, field, p)
		if mode == model.ResolutionModeDNSRR && pc.PublishMode == model.PublishModeIngress {
			c.invalid(field+".PublishMode", "port published with ingress mode can't be used with dnsrr mode; publish with mode=host or use --endpoint-mode vip")
		}
		if pc.PublishedPort != 0 {
			key := fmt.Sprintf("%d/%s", pc.PublishedPort, pc.Protocol)
			if j, dup := seen[key]; dup {
				c.invalid(field+".PublishedPort", "port %s is already published by EndpointSpec.Ports[%d]", key, j)
			}
			seen[key] = i
		}
		out.Ports = append(out.Ports, pc)
	}
	return out
}

func portFromDocker(c *checker, field string, p swarm.PortConfig) model.PortConfig {
	// Ingress is the default, as in Docker.
	mode := model.PublishModeIngress
	switch p.PublishMode {
	case swarm.PortConfigPublishModeHost:
		mode = model.PublishModeHost
	case swarm.PortConfigPublishModeIngress, "":
	default:
		c.invalid(field+".PublishMode", "%q: want ingress or host", p.PublishMode)
	}
	proto := string(p.Protocol)
	switch p.Protocol {
	case "":
		proto = string(swarm.PortConfigProtocolTCP)
	case swarm.PortConfigProtocolTCP, swarm.PortConfigProtocolUDP, swarm.PortConfigProtocolSCTP:
	default:
		c.invalid(field+".Protocol", "%q: want tcp, udp or sctp", p.Protocol)
	}
	if p.TargetPort == 0 || p.TargetPort > 65535 {
		c.invalid(field+".TargetPort", "%d: must be between 1 and 65535", p.TargetPort)
	}
	if p.PublishedPort > 65535 {
		c.invalid(field+".PublishedPort", "%d: must be between 0 and 65535", p.PublishedPort)
	}
	return model.PortConfig{
		Name:          p.Name,
		Protocol:      proto,
		TargetPort:    p.TargetPort,
		PublishedPort: p.PublishedPort,
		PublishMode:   mode,
	}
}

// ServiceSpecToDocker converts a stored spec for a Docker client. The result
// is shaped like what the CLI itself sends (non-nil Labels, Resources and
// Placement, EndpointSpec with Mode "vip"), because the CLI sends it back
// whole on update; ServiceSpecFromDocker accepts it unchanged.
func ServiceSpecToDocker(s model.ServiceSpec) swarm.ServiceSpec {
	out := swarm.ServiceSpec{
		Annotations: swarm.Annotations{
			Name:   s.Name,
			Labels: labelsToDocker(s.Labels, &s.Rebalance, &s.Strategy),
		},
		TaskTemplate:   taskSpecToDocker(s.Task),
		UpdateConfig:   updateConfigToDocker(s.Update),
		RollbackConfig: updateConfigToDocker(s.Rollback),
		EndpointSpec:   endpointSpecToDocker(s.Endpoint),
	}
	switch {
	case s.Mode.Global != nil:
		out.Mode.Global = &swarm.GlobalService{}
	case s.Mode.GlobalJob != nil:
		out.Mode.GlobalJob = &swarm.GlobalJob{}
	case s.Mode.ReplicatedJob != nil:
		job := *s.Mode.ReplicatedJob
		out.Mode.ReplicatedJob = &swarm.ReplicatedJob{MaxConcurrent: &job.MaxConcurrent, TotalCompletions: &job.TotalCompletions}
	default:
		n := s.Replicas()
		out.Mode.Replicated = &swarm.ReplicatedService{Replicas: &n}
	}
	return out
}

func updateConfigToDocker(u *model.UpdateConfig) *swarm.UpdateConfig {
	if u == nil {
		return nil
	}
	return &swarm.UpdateConfig{
		Parallelism:     u.Parallelism,
		Delay:           u.Delay,
		FailureAction:   string(u.FailureAction),
		Monitor:         u.Monitor,
		MaxFailureRatio: u.MaxFailureRatio,
		Order:           string(u.Order),
	}
}

func endpointSpecToDocker(e *model.EndpointSpec) *swarm.EndpointSpec {
	out := &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP}
	if e != nil {
		out.Ports = portsToDocker(e.Ports)
		if e.Mode == model.ResolutionModeDNSRR {
			out.Mode = swarm.ResolutionModeDNSRR
		}
	}
	return out
}

func portsToDocker(ports []model.PortConfig) []swarm.PortConfig {
	if len(ports) == 0 {
		return nil
	}
	out := make([]swarm.PortConfig, len(ports))
	for i, p := range ports {
		out[i] = swarm.PortConfig{
			Name:          p.Name,
			Protocol:      swarm.PortConfigProtocol(p.Protocol),
			TargetPort:    p.TargetPort,
			PublishedPort: p.PublishedPort,
			PublishMode:   swarm.PortConfigPublishMode(p.PublishMode),
		}
	}
	return out
}

// ServiceToDocker converts a stored service for GET /services and
// GET /services/{id}. status is the task count for ?status=true, or nil.
func ServiceToDocker(s *model.Service, status *swarm.ServiceStatus) swarm.Service {
	out := swarm.Service{
		ID:            s.ID,
		Meta:          metaToDocker(s.Meta),
		Spec:          ServiceSpecToDocker(s.Spec),
		ServiceStatus: clonePtr(status),
	}
	if s.PreviousSpec != nil {
		prev := ServiceSpecToDocker(*s.PreviousSpec)
		out.PreviousSpec = &prev
	}
	out.Endpoint = endpointToDocker(s, out.Spec.EndpointSpec)
	if j := s.JobStatus; j != nil {
		out.JobStatus = &swarm.JobStatus{
			JobIteration:  swarm.Version{Index: j.JobIteration.Index},
			LastExecution: j.LastExecution,
		}
	}
	if u := s.UpdateStatus; u != nil {
		out.UpdateStatus = &swarm.UpdateStatus{
			State:       swarm.UpdateState(u.State),
			StartedAt:   cloneTime(u.StartedAt),
			CompletedAt: cloneTime(u.CompletedAt),
			Message:     u.Message,
		}
	}
	return out
}

func metaToDocker(m model.Meta) swarm.Meta {
	return swarm.Meta{
		Version:   swarm.Version{Index: m.Version.Index},
		CreatedAt: m.CreatedAt,
		UpdatedAt: m.UpdatedAt,
	}
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// InsertServiceDefaults fills the fields Docker fills for
// GET /services/{id}?insertDefaults=true (what `docker service inspect`
// shows): restart policy, update and rollback configs, stop grace period.
// The CLI asks with insertDefaults=false before an update, so the defaults
// never end up stored.
func InsertServiceDefaults(s *swarm.ServiceSpec) {
	t := &s.TaskTemplate
	if t.ContainerSpec != nil && t.ContainerSpec.StopGracePeriod == nil {
		d := DefaultStopGracePeriod
		t.ContainerSpec.StopGracePeriod = &d
	}
	if t.Resources == nil {
		t.Resources = &swarm.ResourceRequirements{}
	}
	if t.RestartPolicy == nil {
		t.RestartPolicy = &swarm.RestartPolicy{}
	}
	if t.RestartPolicy.Condition == "" {
		t.RestartPolicy.Condition = swarm.RestartPolicyConditionAny
	}
	if t.RestartPolicy.Delay == nil {
		d := model.DefaultRestartDelay
		t.RestartPolicy.Delay = &d
	}
	if t.RestartPolicy.MaxAttempts == nil {
		var n uint64
		t.RestartPolicy.MaxAttempts = &n
	}
	if t.Placement == nil {
		t.Placement = &swarm.Placement{}
	}
	if s.Mode.ReplicatedJob != nil || s.Mode.GlobalJob != nil {
		// A job has no rolling updates.
		return
	}
	def := updateConfigToDocker(ptr(model.DefaultUpdateConfig()))
	for _, u := range []**swarm.UpdateConfig{&s.UpdateConfig, &s.RollbackConfig} {
		if *u == nil {
			c := *def
			*u = &c
		}
	}
}

// DefaultStopGracePeriod is Docker's wait between the stop signal and the
// kill, used when ContainerSpec.StopGracePeriod is nil.
const DefaultStopGracePeriod = 10 * time.Second

func ptr[T any](v T) *T { return &v }
