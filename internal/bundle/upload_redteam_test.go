package bundle

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Red team: `cortex deploy` to a cluster follows symbolic links to files wherever they point, so
// a project (a cloned repository, say) holding `settings.ini -> ../../.aws/credentials` uploads
// the deployer's AWS keys into the cluster, where the API's own code (the repository author's)
// reads them from its project directory. Links inside the project stay allowed.
func TestReadRefusesLinksOutOfTheProject(t *testing.T) {
	home := t.TempDir()
	secret := filepath.Join(home, ".aws", "credentials")
	if err := os.MkdirAll(filepath.Dir(secret), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secret, []byte("aws_secret_access_key = deployer-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	proj := filepath.Join(home, "src", "repo")
	if err := os.MkdirAll(filepath.Join(proj, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proj, "handler.py"), []byte("print(1)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A link within the project is fine.
	if err := os.Symlink("../handler.py", filepath.Join(proj, "conf", "same.py")); err != nil {
		t.Fatal(err)
	}
	if u, err := Read(proj); err != nil || len(u.Files) != 2 {
		t.Fatalf("a link inside the project: %v (%d files)", err, len(u.Files))
	}
	for name, target := range map[string]string{"relative": "../../../.aws/credentials", "absolute": secret} {
		link := filepath.Join(proj, "conf", "settings.ini")
		_ = os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		u, err := Read(proj)
		for _, f := range u.Files {
			if strings.Contains(string(f.Data), "deployer-secret") {
				t.Errorf("%s link: the upload carries %s, a file outside the project", name, f.Path)
			}
		}
		if err == nil || !strings.Contains(err.Error(), "outside") {
			t.Errorf("%s link out of the project: %v, want an error naming it", name, err)
		}
	}
}
