package operator

import (
	"strings"
	"testing"
)

func TestParseConfigFileYAML12AndEveryProblem(t *testing.T) {
	good := "state_dir: /tmp/x\nlisten: 127.0.0.1:0\nlog_max_backups: 010\nconnections: {max_conns: 0x10}\napis: {python: python3}\n"
	cfg, err := ParseConfigFile([]byte(good), "operator.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LogMaxBackups != 10 || cfg.Connections.MaxConns != 16 || cfg.APIs.Python != "python3" {
		t.Errorf("decoded %+v", cfg)
	}
	bad := "state_dir: /tmp/x\nlisten: [a]\nlog_max_size_mb: ten\nconections: {}\napis:\n  workloads: x\n"
	_, err = ParseConfigFile([]byte(bad), "operator.yaml")
	want := []string{
		`operator.yaml:2: listen: must be a string, got a list`,
		`operator.yaml:3: log_max_size_mb: must be an integer, got "ten"`,
		`operator.yaml:4: conections: unknown field`,
		`operator.yaml:6: apis.workloads: unknown field`,
	}
	if err == nil {
		t.Fatal("want errors")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d problems:\n%v", len(lines), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("problem %d: got %q, want prefix %q", i, lines[i], w)
		}
	}
}
