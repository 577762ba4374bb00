package config

import (
	"os"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/api/convert"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/fakeclient"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/fixtures"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/objcmd/objcmdtest"
)

func TestMain(m *testing.M) {
	time.Local = time.UTC
	os.Exit(m.Run())
}

var suite = objcmdtest.Suite{
	Noun:       "config",
	NewCommand: NewCommand,
	NewFake: func() *fakeclient.Client {
		return &fakeclient.Client{Configs: fixtures.Configs(), Index: 100, Now: fixtures.Now, NextID: "newconfig0000000000000001"}
	},
	Existing:   "site.conf",
	ExistingID: fixtures.Site,
	Sent: func(w fakeclient.Write) (swarm.Annotations, []byte, error) {
		_, err := convert.ConfigSpecFromDocker(w.ConfigSpec)
		return w.ConfigSpec.Annotations, w.ConfigSpec.Data, err
	},
}

func TestReadCommands(t *testing.T) { suite.ReadCommands(t) }

// TestCreate checks what create sends, from a file and from standard
// input: the name, labels and data, which the manager's conversion
// accepts.
func TestCreate(t *testing.T) { suite.Create(t) }

func TestRm(t *testing.T) { suite.Rm(t) }

func TestErrors(t *testing.T) { suite.Errors(t) }
