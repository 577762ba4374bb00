package state

import (
	"errors"
	"math"
	"os"
	"time"

	"github.com/shoal-dev/shoal/model"
)

// The binary form of a service in command format 2. Every manager decodes
// the service of each service write it applies, and JSON was the largest
// cost of that: 35 to 47 µs to decode a service update's command, against
// 4.8 to 7.2 µs in this form (BenchmarkCommandServiceUpdate). Fields are
// written in declaration order; optional values (pointers) are preceded by
// a presence byte. As in the rest
// of the command format, an empty list or map decodes as nil and a time
// with a zero offset as UTC, which is what decoding its JSON gave, so that
// a service applied from either format is the same value.
// TestCommandEncodingCoversEveryField fails when Service, or what it holds,
// gains a field this does not write.

var (
	errBadMode     = errors.New("bad service mode")
	errBadOptional = errors.New("bad optional value")
)

func encodeService(e *encoder, s *model.Service) {
	e.str(s.ID)
	e.uvarint(s.Version.Index)
	e.time(s.CreatedAt)
	e.time(s.UpdatedAt)
	encodeServiceSpec(e, &s.Spec)
	e.bool(s.PreviousSpec != nil)
	if s.PreviousSpec != nil {
		encodeServiceSpec(e, s.PreviousSpec)
	}
	e.uvarint(s.SpecVersion.Index)
	e.uvarint(s.PreviousSpecVersion.Index)
	e.bool(s.UpdateStatus != nil)
	if u := s.UpdateStatus; u != nil {
		e.str(string(u.State))
		e.optTime(u.StartedAt)
		e.optTime(u.CompletedAt)
		e.str(u.Message)
	}
	e.bool(s.Endpoint != nil)
	if ep := s.Endpoint; ep != nil {
		encodeEndpointSpec(e, &ep.Spec)
		encodePorts(e, ep.Ports)
		e.uvarint(uint64(len(ep.VirtualIPs)))
		for _, v := range ep.VirtualIPs {
			e.str(v.NetworkID)
			e.str(v.Addr)
		}
	}
	e.bool(s.JobStatus != nil)
	if j := s.JobStatus; j != nil {
		e.uvarint(j.JobIteration.Index)
		e.time(j.LastExecution)
	}
}

func decodeService(d *decoder) *model.Service {
	s := &model.Service{}
	s.ID = d.str()
	s.Version.Index = d.uvarint()
	s.CreatedAt = d.jsonTime()
	s.UpdatedAt = d.jsonTime()
	decodeServiceSpec(d, &s.Spec)
	if d.bool() {
		s.PreviousSpec = &model.ServiceSpec{}
		decodeServiceSpec(d, s.PreviousSpec)
	}
	s.SpecVersion.Index = d.uvarint()
	s.PreviousSpecVersion.Index = d.uvarint()
	if d.bool() {
		s.UpdateStatus = &model.UpdateStatus{
			State:       model.UpdateState(d.str()),
			StartedAt:   d.optTime(),
			CompletedAt: d.optTime(),
			Message:     d.str(),
		}
	}
	if d.bool() {
		ep := &model.Endpoint{}
		decodeEndpointSpec(d, &ep.Spec)
		ep.Ports = decodePorts(d)
		if n := d.count(2); n > 0 {
			ep.VirtualIPs = make([]model.EndpointVirtualIP, n)
			for i := range ep.VirtualIPs {
				ep.VirtualIPs[i] = model.EndpointVirtualIP{NetworkID: d.str(), Addr: d.str()}
			}
		}
		s.Endpoint = ep
	}
	if d.bool() {
		s.JobStatus = &model.JobStatus{JobIteration: model.Version{Index: d.uvarint()}, LastExecution: d.jsonTime()}
	}
	if d.err != nil {
		return nil
	}
	return s
}

// Service modes, a bit each: exactly one is set in a valid spec, but the
// format keeps whatever the spec holds.
const (
	modeReplicated byte = 1 << iota
	modeGlobal
	modeReplicatedJob
	modeGlobalJob
)

func encodeServiceSpec(e *encoder, s *model.ServiceSpec) {
	e.str(s.Name)
	e.labels(s.Labels)
	encodeTaskSpec(e, &s.Task)
	var m byte
	if s.Mode.Replicated != nil {
		m |= modeReplicated
	}
	if s.Mode.Global != nil {
		m |= modeGlobal
	}
	if s.Mode.ReplicatedJob != nil {
		m |= modeReplicatedJob
	}
	if s.Mode.GlobalJob != nil {
		m |= modeGlobalJob
	}
	e.byte(m)
	if s.Mode.Replicated != nil {
		e.uvarint(s.Mode.Replicated.Replicas)
	}
	if j := s.Mode.ReplicatedJob; j != nil {
		e.uvarint(j.MaxConcurrent)
		e.uvarint(j.TotalCompletions)
	}
	encodeUpdateConfig(e, s.Update)
	encodeUpdateConfig(e, s.Rollback)
	e.bool(s.Endpoint != nil)
	if s.Endpoint != nil {
		encodeEndpointSpec(e, s.Endpoint)
	}
	e.bool(s.Rebalance)
	e.str(string(s.Strategy))
}

func decodeServiceSpec(d *decoder, s *model.ServiceSpec) {
	s.Name = d.str()
	s.Labels = d.labels()
	decodeTaskSpec(d, &s.Task)
	m := d.byte()
	if m >= modeGlobalJob<<1 {
		d.fail(errBadMode)
		return
	}
	if m&modeReplicated != 0 {
		s.Mode.Replicated = &model.ReplicatedService{Replicas: d.uvarint()}
	}
	if m&modeGlobal != 0 {
		s.Mode.Global = &model.GlobalService{}
	}
	if m&modeReplicatedJob != 0 {
		s.Mode.ReplicatedJob = &model.ReplicatedJob{MaxConcurrent: d.uvarint(), TotalCompletions: d.uvarint()}
	}
	if m&modeGlobalJob != 0 {
		s.Mode.GlobalJob = &model.GlobalJob{}
	}
	s.Update = decodeUpdateConfig(d)
	s.Rollback = decodeUpdateConfig(d)
	if d.bool() {
		s.Endpoint = &model.EndpointSpec{}
		decodeEndpointSpec(d, s.Endpoint)
	}
	s.Rebalance = d.bool()
	s.Strategy = model.PlacementStrategy(d.str())
}

func encodeUpdateConfig(e *encoder, u *model.UpdateConfig) {
	e.bool(u != nil)
	if u == nil {
		return
	}
	e.uvarint(u.Parallelism)
	e.varint(int64(u.Delay))
	e.str(string(u.FailureAction))
	e.varint(int64(u.Monitor))
	e.uvarint(uint64(math.Float32bits(u.MaxFailureRatio)))
	e.str(string(u.Order))
}

func decodeUpdateConfig(d *decoder) *model.UpdateConfig {
	if !d.bool() {
		return nil
	}
	return &model.UpdateConfig{
		Parallelism:     d.uvarint(),
		Delay:           time.Duration(d.varint()),
		FailureAction:   model.FailureAction(d.str()),
		Monitor:         time.Duration(d.varint()),
		MaxFailureRatio: math.Float32frombits(uint32(d.uvarint())),
		Order:           model.UpdateOrder(d.str()),
	}
}

func encodeEndpointSpec(e *encoder, s *model.EndpointSpec) {
	e.str(string(s.Mode))
	encodePorts(e, s.Ports)
}

func decodeEndpointSpec(d *decoder, s *model.EndpointSpec) {
	s.Mode = model.ResolutionMode(d.str())
	s.Ports = decodePorts(d)
}

func encodeTaskSpec(e *encoder, t *model.TaskSpec) {
	c := &t.Container
	e.str(c.Image)
	e.labels(c.Labels)
	e.strs(c.Command)
	e.strs(c.Args)
	e.str(c.Hostname)
	e.strs(c.Env)
	e.str(c.Dir)
	e.str(c.User)
	e.bool(c.TTY)
	e.bool(c.ReadOnly)
	switch {
	case c.Init == nil:
		e.byte(0)
	case !*c.Init:
		e.byte(1)
	default:
		e.byte(2)
	}
	e.uvarint(uint64(len(c.Mounts)))
	for i := range c.Mounts {
		m := &c.Mounts[i]
		e.str(string(m.Type))
		e.str(m.Source)
		e.str(m.Target)
		e.bool(m.ReadOnly)
	}
	e.str(c.StopSignal)
	e.optDuration(c.StopGracePeriod)
	e.bool(c.Healthcheck != nil)
	if h := c.Healthcheck; h != nil {
		e.strs(h.Test)
		e.varint(int64(h.Interval))
		e.varint(int64(h.Timeout))
		e.varint(int64(h.StartPeriod))
		e.varint(int64(h.StartInterval))
		e.varint(int64(h.Retries))
	}
	e.uvarint(uint64(len(c.Secrets)))
	for i := range c.Secrets {
		r := &c.Secrets[i]
		e.str(r.SecretID)
		e.str(r.SecretName)
		e.fileTarget(&r.File)
	}
	e.uvarint(uint64(len(c.Configs)))
	for i := range c.Configs {
		r := &c.Configs[i]
		e.str(r.ConfigID)
		e.str(r.ConfigName)
		e.fileTarget(&r.File)
	}

	r := &t.Resources
	e.varint(r.Limits.NanoCPUs)
	e.varint(r.Limits.MemoryBytes)
	e.varint(r.PidsLimit)
	e.varint(r.Reservations.NanoCPUs)
	e.varint(r.Reservations.MemoryBytes)

	e.str(string(t.Restart.Condition))
	e.optDuration(t.Restart.Delay)
	e.uvarint(t.Restart.MaxAttempts)
	e.varint(int64(t.Restart.Window))

	p := &t.Placement
	e.strs(p.Constraints)
	e.uvarint(uint64(len(p.Preferences)))
	for _, pref := range p.Preferences {
		e.str(pref.Spread)
	}
	e.uvarint(p.MaxReplicas)
	e.uvarint(uint64(len(p.Platforms)))
	for _, pl := range p.Platforms {
		e.str(pl.Architecture)
		e.str(pl.OS)
	}

	e.uvarint(t.ForceUpdate)
	e.uvarint(uint64(len(t.Networks)))
	for i := range t.Networks {
		n := &t.Networks[i]
		e.str(n.Target)
		e.strs(n.Aliases)
	}
}

func decodeTaskSpec(d *decoder, t *model.TaskSpec) {
	c := &t.Container
	c.Image = d.str()
	c.Labels = d.labels()
	c.Command = d.strs()
	c.Args = d.strs()
	c.Hostname = d.str()
	c.Env = d.strs()
	c.Dir = d.str()
	c.User = d.str()
	c.TTY = d.bool()
	c.ReadOnly = d.bool()
	switch d.byte() {
	case 0:
	case 1:
		c.Init = new(bool)
	case 2:
		v := true
		c.Init = &v
	default:
		d.fail(errBadOptional)
	}
	if n := d.count(4); n > 0 {
		c.Mounts = make([]model.Mount, n)
		for i := range c.Mounts {
			c.Mounts[i] = model.Mount{Type: model.MountType(d.str()), Source: d.str(), Target: d.str(), ReadOnly: d.bool()}
		}
	}
	c.StopSignal = d.str()
	c.StopGracePeriod = d.optDuration()
	if d.bool() {
		c.Healthcheck = &model.HealthConfig{
			Test:          d.strs(),
			Interval:      time.Duration(d.varint()),
			Timeout:       time.Duration(d.varint()),
			StartPeriod:   time.Duration(d.varint()),
			StartInterval: time.Duration(d.varint()),
			Retries:       int(d.varint()),
		}
	}
	if n := d.count(6); n > 0 {
		c.Secrets = make([]model.SecretReference, n)
		for i := range c.Secrets {
			r := &c.Secrets[i]
			r.SecretID = d.str()
			r.SecretName = d.str()
			r.File = d.fileTarget()
		}
	}
	if n := d.count(6); n > 0 {
		c.Configs = make([]model.ConfigReference, n)
		for i := range c.Configs {
			r := &c.Configs[i]
			r.ConfigID = d.str()
			r.ConfigName = d.str()
			r.File = d.fileTarget()
		}
	}

	r := &t.Resources
	r.Limits.NanoCPUs = d.varint()
	r.Limits.MemoryBytes = d.varint()
	r.PidsLimit = d.varint()
	r.Reservations.NanoCPUs = d.varint()
	r.Reservations.MemoryBytes = d.varint()

	t.Restart.Condition = model.RestartCondition(d.str())
	t.Restart.Delay = d.optDuration()
	t.Restart.MaxAttempts = d.uvarint()
	t.Restart.Window = time.Duration(d.varint())

	p := &t.Placement
	p.Constraints = d.strs()
	if n := d.count(1); n > 0 {
		p.Preferences = make([]model.PlacementPreference, n)
		for i := range p.Preferences {
			p.Preferences[i].Spread = d.str()
		}
	}
	p.MaxReplicas = d.uvarint()
	if n := d.count(2); n > 0 {
		p.Platforms = make([]model.Platform, n)
		for i := range p.Platforms {
			p.Platforms[i] = model.Platform{Architecture: d.str(), OS: d.str()}
		}
	}

	t.ForceUpdate = d.uvarint()
	if n := d.count(2); n > 0 {
		t.Networks = make([]model.NetworkAttachmentConfig, n)
		for i := range t.Networks {
			t.Networks[i] = model.NetworkAttachmentConfig{Target: d.str(), Aliases: d.strs()}
		}
	}
}

// labels writes a string map; an empty one decodes as nil, as with JSON's
// omitempty. The order is the map's: decoding does not depend on it.
func (e *encoder) labels(m map[string]string) {
	e.uvarint(uint64(len(m)))
	for k, v := range m {
		e.str(k)
		e.str(v)
	}
}

func (d *decoder) labels() map[string]string {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.str()
		m[k] = d.str()
	}
	return m
}

func (e *encoder) optDuration(p *time.Duration) {
	e.bool(p != nil)
	if p != nil {
		e.varint(int64(*p))
	}
}

func (d *decoder) optDuration() *time.Duration {
	if !d.bool() {
		return nil
	}
	v := time.Duration(d.varint())
	return &v
}

func (e *encoder) optTime(p *time.Time) {
	e.bool(p != nil)
	if p != nil {
		e.time(*p)
	}
}

func (d *decoder) optTime() *time.Time {
	if !d.bool() {
		return nil
	}
	t := d.jsonTime()
	return &t
}

// jsonTime reads a time as decoding its JSON would give it: a zero offset
// is UTC (JSON writes it as "Z"), not the local zone.
func (d *decoder) jsonTime() time.Time {
	t := d.time()
	if _, off := t.Zone(); off == 0 && t.Location() != time.UTC {
		t = t.UTC()
	}
	return t
}

func (e *encoder) fileTarget(f *model.FileTarget) {
	e.str(f.Name)
	e.str(f.UID)
	e.str(f.GID)
	e.uvarint(uint64(f.Mode))
}

func (d *decoder) fileTarget() model.FileTarget {
	return model.FileTarget{Name: d.str(), UID: d.str(), GID: d.str(), Mode: os.FileMode(d.uvarint())}
}
