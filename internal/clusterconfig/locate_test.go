package clusterconfig

import (
	"testing"

	"github.com/cortexlabs-go/cortex/internal/fielderr"
)

// A problem found after parsing (by AWS) names the file and the line of the field.
func TestLocateLaterProblems(t *testing.T) {
	c, err := ParseFile([]byte("cluster_name: abc\nregion: us-west-2\navailability_zones:\n  - us-west-2a\n  - us-west-2q\n"), "cluster.yaml", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var l fielderr.List
	l.Add("availability_zones[1]", "not a zone")
	if got := c.Locate(l.Err()).Error(); got != "cluster.yaml:5: availability_zones[1]: not a zone" {
		t.Errorf("got %q", got)
	}
}
