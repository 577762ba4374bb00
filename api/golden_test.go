package api_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/api/convert"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// cliBodies are the request bodies the docker 28 CLI sent, recorded by
// package convert.
const cliBodies = "convert/testdata/cli"

func readBody(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cliBodies, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCLIBodies posts every recorded body to the endpoint it was sent to.
// The server decodes strictly (unknown fields refused), so this proves the
// CLI sends nothing it does not know; and it answers exactly as the
// conversion decides, naming every refused field.
func TestCLIBodies(t *testing.T) {
	e := newEnv(t, 1)
	e.addWorker("worker1", "node-2")
	// The objects the recording engine named in the bodies, by its IDs.
	e.propose(state.Op{Type: state.OpCreateNetwork, Network: &model.Network{ID: "netappnet0000000000000000", Spec: model.NetworkSpec{Annotations: model.Annotations{Name: "appnet"}}}},
		state.Op{Type: state.OpCreateSecret, Secret: &model.Secret{ID: "secdbpass0000000000000000", Spec: model.SecretSpec{Annotations: model.Annotations{Name: "dbpass"}, Data: []byte("pw")}}},
		state.Op{Type: state.OpCreateConfig, Config: &model.Config{ID: "cfgsite0conf0000000000000", Spec: model.ConfigSpec{Annotations: model.Annotations{Name: "site.conf"}, Data: []byte("conf")}}})
	files, err := filepath.Glob(filepath.Join(cliBodies, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded bodies in %s: %v", cliBodies, err)
	}
	seen := 0
	for _, f := range files {
		name := filepath.Base(f)
		body := readBody(t, name)
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			switch {
			case strings.HasPrefix(name, "service-create"):
				seen++
				var spec swarm.ServiceSpec
				if err := json.Unmarshal(body, &spec); err != nil {
					t.Fatal(err)
				}
				_, convErr := convert.ServiceSpecFromDocker(spec)
				r := e.do("POST", "/v1.41/services/create", body)
				if convErr == nil {
					if r.status != http.StatusCreated {
						t.Fatalf("%d %s", r.status, r.body)
					}
					e.must(http.StatusOK, "DELETE", "/services/"+spec.Name, nil, nil)
					return
				}
				if r.status != http.StatusBadRequest {
					t.Fatalf("refused by convert (%v), answered %d %s", convErr, r.status, r.body)
				}
				var fe *convert.FieldError
				for _, err := range unjoin(convErr) {
					if errors.As(err, &fe) && !strings.Contains(r.message(), fe.Field+": ") {
						t.Errorf("answer does not name %s: %s", fe.Field, r.message())
					}
				}
			case strings.HasPrefix(name, "service-update"), name == "service-scale.json":
				seen++
				e.must(http.StatusCreated, "POST", "/services/create", readBody(t, "service-create.json"), nil)
				defer e.must(http.StatusOK, "DELETE", "/services/web", nil, nil)
				query := ""
				if name == "service-update-rollback.json" {
					query = "&rollback=previous"
					s := getService(e, "web")
					e.must(http.StatusOK, "POST", "/services/web/update?version="+itoa(s.Version.Index), readBody(t, "service-update-image.json"), nil)
				}
				s := getService(e, "web")
				e.must(http.StatusOK, "POST", "/v1.41/services/"+s.ID+"/update?registryAuthFrom=spec&version="+itoa(s.Version.Index)+query, body, nil)
			case strings.HasPrefix(name, "node-"):
				seen++
				n := getNode(e, "node-2")
				e.must(http.StatusOK, "POST", "/v1.41/nodes/"+n.ID+"/update?version="+itoa(n.Version.Index), body, nil)
			case strings.HasPrefix(name, "swarm-"):
				seen++
				s := getSwarm(e)
				e.must(http.StatusOK, "POST", "/v1.41/swarm/update?rotateManagerToken=false&rotateManagerUnlockKey=false&rotateWorkerToken=false&version="+itoa(s.Version.Index), body, nil)
			default:
				t.Fatalf("no endpoint known for %s", name)
			}
		})
	}
	if seen != len(files) {
		t.Errorf("posted %d of %d bodies", seen, len(files))
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
