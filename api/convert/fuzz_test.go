package convert_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/api/convert"
	"github.com/shoal-dev/shoal/model"
)

// FuzzServiceSpecFromDocker feeds service specs as a client sends them
// (JSON) to the converter. It must never panic; a spec it accepts has every
// count within the bounds (replicas at most model.MaxReplicasCeiling, so no
// cluster limit can let more through), and converting it back and again
// gives the same stored spec. Seeded with the counts of issue 21
// (9223372036854775808, ten million, negative, 0, max uint64) in each
// count of a spec.
func FuzzServiceSpecFromDocker(f *testing.F) {
	base := `{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"nginx:1.27"},` +
		`"RestartPolicy":{"MaxAttempts":%[2]s},"Placement":{"MaxReplicas":%[3]s}},` +
		`"Mode":{"Replicated":{"Replicas":%[1]s}},"UpdateConfig":{"Parallelism":%[4]s}}`
	for _, n := range []string{"9223372036854775808", "10000000", "-1", "0", "18446744073709551615", "18446744073709551616", "1"} {
		f.Add(fmt.Sprintf(base, n, "0", "0", "1"))
		f.Add(fmt.Sprintf(base, "1", n, n, n))
	}
	f.Add(`{"Name":"g","TaskTemplate":{"ContainerSpec":{"Image":"a"}},"Mode":{"Global":{}}}`)
	f.Fuzz(func(t *testing.T, body string) {
		var in swarm.ServiceSpec
		if json.Unmarshal([]byte(body), &in) != nil {
			return
		}
		spec, err := convert.ServiceSpecFromDocker(in)
		if err != nil {
			return
		}
		if spec.Replicas() > model.MaxReplicasCeiling {
			t.Fatalf("accepted %d replicas", spec.Replicas())
		}
		if spec.Task.Restart.MaxAttempts > convert.MaxRestartAttempts {
			t.Fatalf("accepted %d restart attempts", spec.Task.Restart.MaxAttempts)
		}
		for _, u := range []*model.UpdateConfig{spec.Update, spec.Rollback} {
			if u != nil && u.Parallelism > model.MaxReplicasCeiling {
				t.Fatalf("accepted a parallelism of %d", u.Parallelism)
			}
		}
		again, err := convert.ServiceSpecFromDocker(convert.ServiceSpecToDocker(spec))
		if err != nil {
			t.Fatalf("the converted spec is refused: %v", err)
		}
		if !reflect.DeepEqual(again, spec) {
			t.Fatalf("round trip changed the spec:\n%+v\n%+v", spec, again)
		}
	})
}
