package agent

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/origin"
)

func TestExampleConfigLoads(t *testing.T) {
	c, err := LoadConfig("../../deploy/sluice.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Targets) != 1 || len(c.Targets[0].Destinations) != 2 || origin.Mode(c.Cgroups[0].Mode).String() != "enforce" {
		t.Errorf("example decoded wrongly: %+v", c)
	}
}

func TestConfigErrorsNameFileLineAndKey(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"misspelt key", "agent:\n  pin_dir: /x\n  metrics_adress: 127.0.0.1:1\n", `:3: unknown key "metrics_adress"`},
		{"misspelt nested key", "targets:\n  - name: a\n    hots: db\n", `:3: unknown key "hots"`},
		{"bad mode", "cgroups:\n  - path: /a\n    mode: enforced\n", `:3: mode: mode must be "enforce", "audit" or "off", not "enforced"`},
		{"bad cidr", "redirect:\n  cidrs: [10.0.0.0/33]\n", `:2: cidr:`},
		{"bad duration", "agent:\n  drain_timeout: soon\n", `:2: duration:`},
		{"missing host", "targets:\n  - name: a\n    destinations: [10.0.0.5]\n    user: u\n", `:2: targets[0].host: required`},
		{"bad tls", "targets:\n  - name: a\n    destinations: [10.0.0.5]\n    host: h\n    user: u\n    tls: prefer\n", `:6: targets[0].tls: must be verify-full, require or disable`},
		{"metrics not loopback", "agent:\n  metrics_address: 0.0.0.0:9464\n", `:2: agent.metrics_address:`},
		{"wrong type", "redirect:\n  proxy_port: lots\n", `:2: cannot unmarshal`},
		{"negative max_procs", "agent:\n  pin_dir: /x\n  max_procs: -2\n", `:3: agent.max_procs: must not be negative`},
		{"negative parameter cap", "audit:\n  max_parameter_bytes: -1\n", `:2: audit.max_parameter_bytes: must not be negative`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sluice.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(path)
			if err == nil {
				t.Fatalf("config accepted:\n%s", tc.yaml)
			}
			if !strings.Contains(err.Error(), path+tc.want) {
				t.Errorf("error %q does not contain %q", err, path+tc.want)
			}
		})
	}
}

func TestDestinationForms(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.5":         "10.0.0.5/32 port 0",
		"10.0.0.5:5432":    "10.0.0.5/32 port 5432",
		"10.0.0.0/24:6432": "10.0.0.0/24 port 6432",
		"[fd00::5]:5432":   "fd00::5/128 port 5432",
		"fd00::/8":         "fd00::/8 port 0",
		"10.1.2.3/16":      "10.1.0.0/16 port 0",
	} {
		c, err := parseConfig("t.yaml", strings.NewReader("targets:\n  - name: a\n    host: h\n    user: u\n    destinations: [\""+in+"\"]\n"))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		d := c.Targets[0].Destinations[0]
		if got := d.Prefix.String() + " port " + strconv.Itoa(int(d.Port)); got != want {
			t.Errorf("%s: got %s, want %s", in, got, want)
		}
	}
}
