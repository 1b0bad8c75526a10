package operator_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/awstest"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
	"github.com/cortexlabs-go/cortex/internal/testutil/opserver"
)

// mintAs mints a token for op with creds, signed for moto's STS.
func mintAs(t *testing.T, op *opserver.Operator, moto *motoserver.Server, creds aws.Credentials) string {
	t.Helper()
	hosts, err := identity.TestEndpointHosts(moto.URL, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := identity.Mint(context.Background(), creds, identity.MintInput{Endpoint: hosts[moto.Host], ClusterID: op.Cluster().ID, Audience: op.URL, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// deleteUser deletes an IAM user and its access keys (IAM refuses to delete a user with keys).
func deleteUser(t *testing.T, admin aws.Config, u awstest.User) {
	t.Helper()
	awstest.DeleteAccessKey(t, admin, u)
	if _, err := iam.NewFromConfig(admin).DeleteUser(context.Background(), &iam.DeleteUserInput{UserName: aws.String(u.Name)}); err != nil {
		t.Fatalf("delete user %s: %v", u.Name, err)
	}
}

func deleteRole(t *testing.T, admin aws.Config, name string) {
	t.Helper()
	if _, err := iam.NewFromConfig(admin).DeleteRole(context.Background(), &iam.DeleteRoleInput{RoleName: aws.String(name)}); err != nil {
		t.Fatalf("delete role %s: %v", name, err)
	}
}

func auditLines(log, reason string) int {
	n := 0
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, `"msg":"request"`) && strings.Contains(l, `"reason":"`+reason+`"`) {
			n++
		}
	}
	return n
}

// A user or role deleted and re-created under the same name is a different principal (a new
// unique id): it must not inherit the grants, or the creator's admin, of the one it replaces.
func TestRecreatedPrincipalDoesNotInheritAccess(t *testing.T) {
	moto := motoserver.Start(t, motoserver.Options{Auth: true, FreeActions: awstest.FreeActions})
	admin := awstest.Bootstrap(t, moto)
	creator := awstest.CreateUser(t, admin, "creator")
	dana := awstest.CreateUser(t, admin, "dana")
	stateDir := filepath.Join(t.TempDir(), "state")
	op := opserver.Start(t, operator.Config{StateDir: stateDir, STSTestEndpoint: moto.URL, AccountID: "123456789012",
		CreatorARN: creator.ARN, AuthMode: "rules"})
	c := httpsClient(t, op.CAFile)
	grant := func(t *testing.T, principal, role string) {
		t.Helper()
		body := `{"principal":"` + principal + `","role":"` + role + `"}`
		if a := call(t, c, "PUT", op.URL+"/v1/access", mintAs(t, op, moto, creator.Creds), strings.NewReader(body)); a.status != 200 {
			t.Fatalf("grant %s: %d %v", principal, a.status, a.body)
		}
	}
	accessList := func(t *testing.T) operator.AccessList {
		t.Helper()
		req, _ := http.NewRequest("GET", op.URL+"/v1/access", nil)
		req.Header.Set("Authorization", "Bearer "+mintAs(t, op, moto, creator.Creds))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var l operator.AccessList
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&l) != nil {
			t.Fatalf("access list: %d", resp.StatusCode)
		}
		return l
	}
	ruleFor := func(l operator.AccessList, principal string) map[string]any {
		b, _ := json.Marshal(l.Rules)
		var rules []map[string]any
		_ = json.Unmarshal(b, &rules)
		for _, r := range rules {
			if r["principal"] == principal {
				return r
			}
		}
		t.Fatalf("no rule for %s in %s", principal, b)
		return nil
	}

	t.Run("user", func(t *testing.T) {
		grant(t, dana.ARN, "deploy")
		if a := call(t, c, "GET", op.URL+"/v1/info", mintAs(t, op, moto, dana.Creds), nil); a.status != 200 {
			t.Fatalf("dana before: %d %v", a.status, a.body)
		}
		first := ruleFor(accessList(t), dana.ARN)["unique_id"]
		deleteUser(t, admin, dana)
		dana2 := awstest.CreateUser(t, admin, "dana")
		if dana2.ARN != dana.ARN {
			t.Fatalf("re-created user has ARN %s, want %s", dana2.ARN, dana.ARN)
		}
		a := call(t, c, "GET", op.URL+"/v1/info", mintAs(t, op, moto, dana2.Creds), nil)
		if a.status != 403 || !strings.Contains(a.body["error"].(map[string]any)["message"].(string), "grant") {
			t.Fatalf("re-created dana: %d %v", a.status, a.body)
		}
		if s, _ := first.(string); s == "" { // AIDA… on AWS; moto makes other random ids
			t.Fatalf("access list did not show dana's bound unique id: %v", first)
		}
		if auditLines(op.Log.String(), "principal_recreated") == 0 {
			t.Fatal("the refusal is not in the audit log with reason principal_recreated")
		}
		// An admin grants again: the new dana binds on first use.
		grant(t, dana.ARN, "read")
		if a := call(t, c, "GET", op.URL+"/v1/info", mintAs(t, op, moto, dana2.Creds), nil); a.status != 200 {
			t.Fatalf("re-created dana after a new grant: %d %v", a.status, a.body)
		}
		second := ruleFor(accessList(t), dana.ARN)["unique_id"]
		if second == first || second == nil {
			t.Fatalf("binding after re-grant = %v (before %v)", second, first)
		}
	})

	t.Run("role", func(t *testing.T) {
		roleARN, creds := awstest.AssumeRole(t, admin, "deployer", "job-1")
		grant(t, roleARN, "deploy")
		if a := call(t, c, "GET", op.URL+"/v1/info", mintAs(t, op, moto, creds), nil); a.status != 200 {
			t.Fatalf("role before: %d %v", a.status, a.body)
		}
		if s, _ := ruleFor(accessList(t), roleARN)["unique_id"].(string); s == "" || strings.Contains(s, ":") {
			t.Fatalf("role binding %q: want the role's unique id without the session", s)
		}
		// Another session of the same role is the same principal.
		_, creds2 := assumeExisting(t, admin, roleARN, "job-2")
		if a := call(t, c, "GET", op.URL+"/v1/info", mintAs(t, op, moto, creds2), nil); a.status != 200 {
			t.Fatalf("another session of the role: %d %v", a.status, a.body)
		}
		deleteRole(t, admin, "deployer")
		roleARN2, creds3 := awstest.AssumeRole(t, admin, "deployer", "job-3")
		if roleARN2 != roleARN {
			t.Fatalf("re-created role has ARN %s", roleARN2)
		}
		if a := call(t, c, "GET", op.URL+"/v1/info", mintAs(t, op, moto, creds3), nil); a.status != 403 {
			t.Fatalf("re-created role: %d %v", a.status, a.body)
		}
		grant(t, roleARN, "deploy")
		if a := call(t, c, "GET", op.URL+"/v1/info", mintAs(t, op, moto, creds3), nil); a.status != 200 {
			t.Fatalf("re-created role after a new grant: %d %v", a.status, a.body)
		}
	})

	t.Run("creator", func(t *testing.T) {
		if l := accessList(t); l.CreatorUniqueID == "" {
			t.Fatalf("creator unique id not recorded: %+v", l)
		}
		var rec map[string]any
		data, err := os.ReadFile(filepath.Join(stateDir, "cluster.json"))
		if err != nil || json.Unmarshal(data, &rec) != nil || rec["creator_unique_id"] == nil {
			t.Fatalf("cluster.json: %s %v", data, err)
		}
		ops := awstest.CreateUser(t, admin, "ops")
		grant(t, ops.ARN, "admin")
		deleteUser(t, admin, creator)
		creator2 := awstest.CreateUser(t, admin, "creator")
		if a := call(t, c, "GET", op.URL+"/v1/info", mintAs(t, op, moto, creator2.Creds), nil); a.status != 403 {
			t.Fatalf("re-created creator: %d %v", a.status, a.body)
		}
		// Another admin grants the creator admin again: that clears the binding.
		body := `{"principal":"` + creator.ARN + `","role":"admin"}`
		if a := call(t, c, "PUT", op.URL+"/v1/access", mintAs(t, op, moto, ops.Creds), strings.NewReader(body)); a.status != 200 {
			t.Fatalf("re-grant the creator: %d %v", a.status, a.body)
		}
		if a := call(t, c, "GET", op.URL+"/v1/info", mintAs(t, op, moto, creator2.Creds), nil); a.status != 200 || a.body["caller"].(map[string]any)["role"] != "admin" {
			t.Fatalf("re-created creator after the re-grant: %d %v", a.status, a.body)
		}
	})

	t.Run("state files stay private", func(t *testing.T) {
		for _, f := range []string{"access.json", "cluster.json"} {
			if fi, err := os.Stat(filepath.Join(stateDir, f)); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("%s: %v %v", f, fi, err)
			}
		}
	})
}

// assumeExisting starts another session of an existing role.
func assumeExisting(t *testing.T, admin aws.Config, roleARN, session string) (string, aws.Credentials) {
	t.Helper()
	return awstest.AssumeExistingRole(t, admin, roleARN, session)
}
