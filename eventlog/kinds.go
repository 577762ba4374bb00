package eventlog

import (
	"strconv"

	"github.com/docker/docker/api/types/events"

	"github.com/shoal-dev/shoal/model"
)

// kind says how the objects of one model kind become events: their event
// type, the actor's name, and the attributes Docker adds to an update.
// Adding a kind is one entry in kinds.
type kind struct {
	typ  events.Type
	name func(model.Object) string
	// diff adds the old and new values of an update to attrs; nil for
	// none.
	diff func(old, cur model.Object, attrs map[string]string)
}

// kinds are the kinds that make events. Tasks and the cluster object make
// none, as in Docker.
var kinds = map[model.Kind]kind{
	model.KindNode:    {typ: events.NodeEventType, name: nodeName, diff: nodeDiff},
	model.KindService: {typ: events.ServiceEventType, name: serviceName, diff: serviceDiff},
	model.KindNetwork: {typ: events.NetworkEventType, name: func(o model.Object) string { return o.(*model.Network).Spec.Name }},
	model.KindSecret:  {typ: events.SecretEventType, name: func(o model.Object) string { return o.(*model.Secret).Spec.Name }},
	model.KindConfig:  {typ: events.ConfigEventType, name: func(o model.Object) string { return o.(*model.Config).Spec.Name }},
}

// Types lists the event types the log makes, for filter validation.
func Types() []events.Type {
	out := make([]events.Type, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, k.typ)
	}
	return out
}

func nodeName(o model.Object) string {
	n := o.(*model.Node)
	if n.Spec.Name != "" {
		return n.Spec.Name
	}
	return n.Description.Hostname
}

func nodeDiff(old, cur model.Object, attrs map[string]string) {
	o, n := old.(*model.Node), cur.(*model.Node)
	changed(attrs, "availability", string(o.Spec.Availability), string(n.Spec.Availability))
	changed(attrs, "role", string(o.Role), string(n.Role))
	changed(attrs, "state", string(o.Status.State), string(n.Status.State))
}

func serviceName(o model.Object) string { return o.(*model.Service).Spec.Name }

func serviceDiff(old, cur model.Object, attrs map[string]string) {
	o, n := old.(*model.Service), cur.(*model.Service)
	changed(attrs, "image", o.Spec.Task.Container.Image, n.Spec.Task.Container.Image)
	if n.Spec.Mode.Replicated != nil {
		if o.Spec.Mode.Replicated == nil {
			attrs["replicas.new"] = strconv.FormatUint(n.Spec.Replicas(), 10)
		} else {
			changed(attrs, "replicas", strconv.FormatUint(o.Spec.Replicas(), 10), strconv.FormatUint(n.Spec.Replicas(), 10))
		}
	}
	if n.UpdateStatus != nil {
		if o.UpdateStatus == nil {
			attrs["updatestate.new"] = string(n.UpdateStatus.State)
		} else {
			changed(attrs, "updatestate", string(o.UpdateStatus.State), string(n.UpdateStatus.State))
		}
	}
}

// changed records key.old and key.new if the value changed.
func changed(attrs map[string]string, key, old, cur string) {
	if old != cur {
		attrs[key+".old"] = old
		attrs[key+".new"] = cur
	}
}
