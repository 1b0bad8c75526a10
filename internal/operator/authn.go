package operator

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cortexlabs-go/cortex/internal/apitypes"
	"github.com/cortexlabs-go/cortex/internal/fsutil"
	"github.com/cortexlabs-go/cortex/internal/identity"
)

// LocalTokenPrefix starts the local provider's admin credential (after "Bearer ").
const LocalTokenPrefix = apitypes.LocalTokenPrefix

// Method names how a caller authenticated.
const (
	MethodAWS   = "aws"
	MethodLocal = "local"
)

// LocalAdminARN is the principal the local admin credential authenticates as.
const LocalAdminARN = "cortex:local:admin"

// authenticator turns a bearer token into an identity; errors wrap identity.ErrInvalid or
// identity.ErrUnavailable.
type authenticator interface {
	authenticate(ctx context.Context, token string) (identity.Identity, error)
}

type awsAuth struct{ v *identity.Verifier }

func (a awsAuth) authenticate(ctx context.Context, token string) (identity.Identity, error) {
	if a.v == nil { // Handler used without Run on port 0: no public endpoint is known, so none verifies
		return identity.Identity{}, &identity.Error{Class: identity.ErrInvalid, Code: "wrong_audience", Msg: "no public endpoints configured"}
	}
	return a.v.Verify(ctx, token)
}

// localAuth accepts the local admin secret, compared in constant time.
type localAuth struct{ secret []byte }

func (a localAuth) authenticate(_ context.Context, token string) (identity.Identity, error) {
	got := []byte(strings.TrimPrefix(token, LocalTokenPrefix))
	if subtle.ConstantTimeCompare(got, a.secret) != 1 {
		return identity.Identity{}, &identity.Error{Class: identity.ErrInvalid, Code: "bad_local_token", Msg: "local admin credential does not match"}
	}
	return identity.Identity{ARN: LocalAdminARN, CanonicalARN: LocalAdminARN, UserID: "local-admin"}, nil
}

// LoadOrCreateLocalToken reads the local admin secret from path, creating it (0600, 256 random
// bits) when absent. It refuses a file that others can read.
func LoadOrCreateLocalToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		secret := base64.RawURLEncoding.EncodeToString(b)
		if err := fsutil.WriteFileAtomic(path, []byte(secret+"\n")); err != nil {
			return "", err
		}
		return secret, nil
	}
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s is readable by others (mode %v): run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	secret := strings.TrimSpace(string(data))
	if len(secret) < 32 {
		return "", fmt.Errorf("%s does not hold a local admin credential", path)
	}
	return secret, nil
}
