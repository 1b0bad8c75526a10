package clusterconfig

import (
	"strings"
	"testing"
)

// Hostile or mistaken cluster.yaml: YAML 1.1 spellings, credentials, several problems at once.
func TestParseFileYAML12AndEveryProblem(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string // "" = valid; else each line of the error, in order
	}{
		{"yes is not a boolean", "node_groups:\n  - name: a\n    instance_type: t3.medium\n    spot: yes\n",
			[]string{`cluster.yaml:4: node_groups[0].spot: must be true or false, got "yes" (YAML 1.2: only true and false are booleans)`}},
		{"leading zero is decimal", "node_groups:\n  - name: a\n    instance_type: t3.medium\n    max_instances: 010\n", nil},
		{"numbers as text are kept as written", "tags:\n  zip: 012345\n  on: off\n", nil},
		{"every problem with its line", "cluster_name: X\nregion: nowhere\nsubnet_visibility: x\nnode_groups: {name: a}\n",
			[]string{
				`cluster.yaml:1: cluster_name: "X" is not allowed; use 3-54 lowercase letters, digits and single hyphens, starting and ending with a letter or digit (it becomes part of an S3 bucket name)`,
				`cluster.yaml:2: region: "nowhere" is not an AWS region name; use one like us-east-1 or eu-west-2`,
				`cluster.yaml:3: subnet_visibility: "x" is not allowed; use public or private`,
				`cluster.yaml:4: node_groups: must be a list, got a mapping (use a list of {name, instance_type, min_instances, max_instances, spot})`,
			}},
		{"old credentials fields", "cluster_name: abc\naws_access_key_id: AKIAEXAMPLEKEY\naws_secret_access_key: s3cr3tvalue\ncortex_aws_access_key_id: AKIA2\n",
			[]string{
				`cluster.yaml:2: aws_access_key_id: AWS credentials are not read from cluster.yaml (it is shared and often checked in); remove this field and use --aws-key/--aws-secret (and --cluster-aws-key/--cluster-aws-secret), the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, CLUSTER_AWS_ACCESS_KEY_ID/CLUSTER_AWS_SECRET_ACCESS_KEY) or an AWS profile (AWS_PROFILE)`,
				`cluster.yaml:3: aws_secret_access_key: AWS credentials are not read from cluster.yaml (it is shared and often checked in); remove this field and use --aws-key/--aws-secret (and --cluster-aws-key/--cluster-aws-secret), the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, CLUSTER_AWS_ACCESS_KEY_ID/CLUSTER_AWS_SECRET_ACCESS_KEY) or an AWS profile (AWS_PROFILE)`,
				`cluster.yaml:4: cortex_aws_access_key_id: AWS credentials are not read from cluster.yaml (it is shared and often checked in); remove this field and use --aws-key/--aws-secret (and --cluster-aws-key/--cluster-aws-secret), the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, CLUSTER_AWS_ACCESS_KEY_ID/CLUSTER_AWS_SECRET_ACCESS_KEY) or an AWS profile (AWS_PROFILE)`,
			}},
		{"wrong types say so in words", "cluster_name: [a]\nnode_groups:\n  - name: a\n    instance_type: t3.medium\n    min_instances: one\n",
			[]string{
				`cluster.yaml:1: cluster_name: must be a string, got a list`,
				`cluster.yaml:5: node_groups[0].min_instances: must be an integer, got "one"`,
			}},
		{"syntax error has a line", "cluster_name: abc\nregion: [us-east-1\n", []string{"cluster.yaml:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseFile([]byte(tc.yaml), "cluster.yaml", func(string) string { return "" })
			if tc.want == nil {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				if tc.name == "leading zero is decimal" && c.NodeGroups[0].Max() != 10 {
					t.Errorf("max_instances = %d, want 10", c.NodeGroups[0].Max())
				}
				if tc.name == "numbers as text are kept as written" && (c.Tags["zip"] != "012345" || c.Tags["on"] != "off") {
					t.Errorf("tags = %v", c.Tags)
				}
				return
			}
			if err == nil {
				t.Fatal("want errors")
			}
			msg := err.Error()
			if len(tc.want) == 1 && !strings.Contains(tc.want[0], " ") {
				if !strings.HasPrefix(msg, tc.want[0]) {
					t.Errorf("got %q", msg)
				}
				return
			}
			if msg != strings.Join(tc.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", msg, strings.Join(tc.want, "\n"))
			}
			for _, bad := range []string{"unmarshal", "Go struct", "AKIAEXAMPLEKEY", "s3cr3tvalue"} {
				if strings.Contains(msg, bad) {
					t.Errorf("message contains %q: %v", bad, msg)
				}
			}
		})
	}
}

func TestRegionFromEnvironment(t *testing.T) {
	env := map[string]string{"AWS_DEFAULT_REGION": "eu-west-1"}
	get := func(k string) string { return env[k] }
	c, err := ParseFile([]byte("cluster_name: abc\n"), "cluster.yaml", get)
	if err != nil || c.Region != "eu-west-1" || c.RegionSource != "AWS_DEFAULT_REGION" {
		t.Fatalf("AWS_DEFAULT_REGION: %v %+v", err, c)
	}
	env["AWS_REGION"] = "eu-central-1"
	if c, _ = ParseFile([]byte("cluster_name: abc\n"), "cluster.yaml", get); c.Region != "eu-central-1" || c.RegionSource != "AWS_REGION" {
		t.Fatalf("AWS_REGION wins over AWS_DEFAULT_REGION: %+v", c)
	}
	if c, _ = ParseFile([]byte("cluster_name: abc\nregion: us-west-2\n"), "cluster.yaml", get); c.Region != "us-west-2" || c.RegionSource != "cluster.yaml" {
		t.Fatalf("cluster.yaml wins: %+v", c)
	}
	if c, _ = ParseFile([]byte("cluster_name: abc\n"), "cluster.yaml", func(string) string { return "" }); c.Region != DefaultRegion {
		t.Fatalf("default: %+v", c)
	}
}
