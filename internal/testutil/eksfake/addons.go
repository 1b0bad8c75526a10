package eksfake

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"time"
)

// Add-ons (CreateAddon, DescribeAddon, ListAddons, DeleteAddon): moto 5.2.x has no route for
// /clusters/{name}/addons (measured: its eks/urls.py lists clusters, node groups, Fargate profiles,
// update-config and tags only), and `cluster up` installs the EKS Pod Identity Agent add-on, without
// which no pod identity association gives a pod credentials. Faithful to the API reference in the
// shapes the SDK reads (addon member names, epoch timestamps, error codes), with one simplification
// that the callers' waits must tolerate but cannot observe here: an add-on is ACTIVE at once (on EKS
// it is CREATING until its DaemonSet runs on the nodes), and DeleteAddon removes it at once.

// Add-ons the fake knows (EKS answers InvalidParameterException for a name it does not offer).
var knownAddons = []string{"eks-pod-identity-agent", "vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver"}

// addonVersion is the version the fake reports when the request names none (EKS picks its default).
const addonVersion = "v1.3.4-eksbuild.1"

type addon struct {
	Name, Version, ARN string
	Tags               map[string]string
	Created, Modified  time.Time
}

var addonNameRE = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9\-._]{0,99}$`)

func (a *addon) json(clusterName, status string) map[string]any {
	return map[string]any{
		"addonName": a.Name, "clusterName": clusterName, "status": status, "addonVersion": a.Version,
		"addonArn": a.ARN, "health": map[string]any{"issues": []any{}}, "tags": a.Tags,
		"createdAt": epoch(a.Created), "modifiedAt": epoch(a.Modified),
	}
}

func (s *Server) createAddon(w http.ResponseWriter, r *http.Request, c *cluster) {
	var in struct {
		AddonName    string            `json:"addonName"`
		AddonVersion string            `json:"addonVersion"`
		Tags         map[string]string `json:"tags"`
	}
	if !decode(w, r, &in) {
		return
	}
	if !addonNameRE.MatchString(in.AddonName) || !slices.Contains(knownAddons, in.AddonName) {
		invalidParameter(w, fmt.Sprintf("Addon %s specified is not supported", in.AddonName))
		return
	}
	if c.addons[in.AddonName] != nil {
		inUse(w, "Addon already exists.")
		return
	}
	if in.AddonVersion == "" {
		in.AddonVersion = addonVersion
	}
	if in.Tags == nil {
		in.Tags = map[string]string{}
	}
	now := time.Now()
	a := &addon{Name: in.AddonName, Version: in.AddonVersion, Tags: in.Tags, Created: now, Modified: now,
		ARN: fmt.Sprintf("arn:aws:eks:%s:%s:addon/%s/%s/%s", signedRegion(r), s.opts.AccountID, c.name, in.AddonName, randomID(8))}
	c.addons[a.Name] = a
	writeJSON(w, map[string]any{"addon": a.json(c.name, "CREATING")})
}

func (s *Server) addonOf(w http.ResponseWriter, r *http.Request, c *cluster) *addon {
	a := c.addons[r.PathValue("addon")]
	if a == nil {
		notFound(w, fmt.Sprintf("No addon: %s found in cluster: %s", r.PathValue("addon"), c.name))
	}
	return a
}

func (s *Server) describeAddon(w http.ResponseWriter, r *http.Request, c *cluster) {
	if a := s.addonOf(w, r, c); a != nil {
		writeJSON(w, map[string]any{"addon": a.json(c.name, "ACTIVE")})
	}
}

func (s *Server) deleteAddon(w http.ResponseWriter, r *http.Request, c *cluster) {
	if a := s.addonOf(w, r, c); a != nil {
		delete(c.addons, a.Name)
		writeJSON(w, map[string]any{"addon": a.json(c.name, "DELETING")})
	}
}

func (s *Server) listAddons(w http.ResponseWriter, r *http.Request, c *cluster) {
	names := []string{}
	for n := range c.addons {
		names = append(names, n)
	}
	sort.Strings(names)
	lo, hi, next, ok := page(w, r, len(names), 100)
	if !ok {
		return
	}
	out := map[string]any{"addons": names[lo:hi]}
	if next != "" {
		out["nextToken"] = next
	}
	writeJSON(w, out)
}
