package workload

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/cortexlabs-go/cortex/internal/fsutil"
)

// AWSSettings say whether APIs get AWS credentials, and from which profile. The local provider
// keeps them in a small 0600 file next to the cluster (written by `cluster up` and by `env
// configure` of the local environment) that the operator reads at each deploy: the operator never
// reads the CLI's own configuration.
type AWSSettings struct {
	// Enabled passes credentials into APIs (each API may still opt out).
	Enabled bool `json:"enabled"`
	// Profile is the shared-config profile to resolve them from ("": the default chain).
	Profile string `json:"profile,omitempty"`
}

// ReadAWSSettings reads the settings file; a missing file means no credentials.
func ReadAWSSettings(path string) (AWSSettings, error) {
	var s AWSSettings
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// WriteAWSSettings writes the settings file atomically, 0600.
func WriteAWSSettings(path string, s AWSSettings) error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, data)
}
