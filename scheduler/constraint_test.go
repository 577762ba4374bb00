package scheduler

import (
	"errors"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/model"
)

func TestParseConstraintsErrors(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want string // part of the message besides the quoted expression
	}{
		{"node.labels.zone=eu", "expected an operator"},
		{"node.labels.zone", "expected an operator"},
		{"", "expected an operator"},
		{"==eu", "missing key"},
		{"  != eu", "missing key"},
		{"node.labels.zone==", "missing value"},
		{"node.labels.zone==  ", "missing value"},
		{"node.labels.zone===eu", `contains '='`},
		{"node.labels.zone!==eu", `contains '='`},
		{"node.labels.zone==eu!", `contains '!'`},
		{"node.labels.zone==<eu", `contains '<'`},
		{"node.label.zone==eu", `unknown key "node.label.zone"`},
		{"node.name==eu", `unknown key "node.name"`},
		{"node.labels.==eu", "has no label name"},
		{"engine.labels.==eu", "has no label name"},
		{"node.labels.my zone==eu", "contains white space"},
		{"node.role==boss", "node.role is manager or worker"},
		{"zone==eu", `unknown key "zone"`},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			_, err := ParseConstraints([]string{"node.role==worker", tc.expr})
			if err == nil {
				t.Fatalf("ParseConstraints(%q) succeeded", tc.expr)
			}
			if !errors.Is(err, ErrInvalidConstraint) {
				t.Errorf("error %v does not wrap ErrInvalidConstraint", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, `"`+tc.expr+`"`) {
				t.Errorf("error %q does not name the expression %q", msg, tc.expr)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not say %q", msg, tc.want)
			}
		})
	}
}

func TestParseConstraintsValid(t *testing.T) {
	for _, expr := range []string{
		"node.id==abc",
		"node.hostname != web-1",
		"NODE.HOSTNAME==Web-1",
		"node.role==MANAGER",
		"node.platform.os==linux",
		"node.platform.arch!=arm64",
		"node.labels.zone==eu-west-1a",
		"Node.Labels.Zone==a",
		"engine.labels.storage==ssd",
		"node.labels.com.example.tier==front end",
		"node.labels.path==/var/lib:x",
	} {
		cs, err := ParseConstraints([]string{expr})
		if err != nil {
			t.Errorf("ParseConstraints(%q): %v", expr, err)
			continue
		}
		if len(cs) != 1 || cs[0].String() != expr {
			t.Errorf("ParseConstraints(%q) = %v", expr, cs)
		}
	}
	if cs, err := ParseConstraints(nil); cs != nil || err != nil {
		t.Errorf("ParseConstraints(nil) = %v, %v", cs, err)
	}
}

func TestConstraintMatches(t *testing.T) {
	n := mkNode("id-1",
		hostname("Web-01"),
		role(model.RoleManager),
		platform("Linux", "x86_64"),
		labels("zone=eu-1", "Tier=front", "empty="),
		engineLabels("storage=ssd"),
	)
	bare := mkNode("id-2") // no labels at all
	for _, tc := range []struct {
		expr      string
		n, bareOK bool
	}{
		{"node.id==id-1", true, false},
		{"node.id!=id-1", false, true},
		{"node.id==ID-1", true, false}, // IDs compare like Docker: ignoring case
		{"node.hostname==web-01", true, false},
		{"node.hostname==WEB-01", true, false},
		{"node.hostname!=web-01", false, true},
		{"node.role==manager", true, false},
		{"node.role==Manager", true, false},
		{"node.role!=manager", false, true},
		{"node.role==worker", false, true},
		{"node.platform.os==linux", true, true},
		{"node.platform.os!=LINUX", false, false},
		{"node.platform.arch==x86_64", true, false}, // constraints compare as written
		{"node.platform.arch==amd64", false, true},
		// Labels compare exactly.
		{"node.labels.zone==eu-1", true, false},
		{"node.labels.zone==EU-1", false, false},
		{"node.labels.zone!=EU-1", true, true},
		{"node.labels.tier==front", false, false}, // label names are case-sensitive
		{"node.labels.Tier==front", true, false},
		{"NODE.LABELS.Tier==front", true, false}, // the prefix is not
		// A missing label never matches == and always matches !=.
		{"node.labels.missing==x", false, false},
		{"node.labels.missing!=x", true, true},
		// A label set to "" is present: it is not equal to any value.
		{"node.labels.empty!=x", true, true},
		{"engine.labels.storage==ssd", true, false},
		{"engine.labels.storage!=ssd", false, true},
		{"node.labels.storage==ssd", false, false}, // engine labels are not node labels
	} {
		cs, err := ParseConstraints([]string{tc.expr})
		if err != nil {
			t.Fatalf("ParseConstraints(%q): %v", tc.expr, err)
		}
		if got := cs[0].Matches(n); got != tc.n {
			t.Errorf("%q on labelled node = %v, want %v", tc.expr, got, tc.n)
		}
		if got := cs[0].Matches(bare); got != tc.bareOK {
			t.Errorf("%q on bare node = %v, want %v", tc.expr, got, tc.bareOK)
		}
	}
}

func TestValidatePlacement(t *testing.T) {
	ok := model.Placement{
		Constraints: []string{"node.role==worker"},
		Preferences: []model.PlacementPreference{{Spread: "node.labels.zone"}, {Spread: "engine.labels.rack"}, {Spread: "node.platform.arch"}},
	}
	if err := ValidatePlacement(ok); err != nil {
		t.Fatalf("ValidatePlacement: %v", err)
	}
	for _, tc := range []struct {
		p    model.Placement
		want error
		text string
	}{
		{model.Placement{Constraints: []string{"zone=a"}}, ErrInvalidConstraint, `"zone=a"`},
		{model.Placement{Preferences: []model.PlacementPreference{{Spread: "labels.zone"}}}, ErrInvalidPreference, `spread=labels.zone`},
		{model.Placement{Preferences: []model.PlacementPreference{{Spread: " "}}}, ErrInvalidPreference, "no attribute"},
		{model.Placement{Preferences: []model.PlacementPreference{{Spread: "node.labels."}}}, ErrInvalidPreference, "no label name"},
	} {
		err := ValidatePlacement(tc.p)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("ValidatePlacement(%+v) = %v, want %v mentioning %s", tc.p, err, tc.want, tc.text)
		}
	}
}

func TestPreferenceBranchValue(t *testing.T) {
	n := mkNode("n1", labels("zone=A"), platform("Linux", "amd64"))
	for _, tc := range []struct{ spread, want string }{
		{"node.labels.zone", "A"},     // labels as they are
		{"node.labels.rack", ""},      // missing: the "" branch
		{"node.platform.os", "linux"}, // case-insensitive attributes fold
		{"engine.labels.x", ""},
	} {
		ps, err := parsePreferences([]model.PlacementPreference{{Spread: tc.spread}})
		if err != nil {
			t.Fatal(err)
		}
		if got := ps[0].branchValue(n); got != tc.want {
			t.Errorf("branch of %s = %q, want %q", tc.spread, got, tc.want)
		}
	}
}
