// Package awscluster is the AWS provider of `cortex cluster`. (Placeholder until the AWS lifecycle lands.)
package awscluster

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
)

func todo(use string) *cobra.Command {
	return &cobra.Command{Use: use, RunE: func(*cobra.Command, []string) error {
		return errors.New("the aws provider is not available in this build yet")
	}}
}

func NewUpCmd(f *cmdutil.Factory) *cobra.Command            { return todo("up") }
func NewInfoCmd(f *cmdutil.Factory) *cobra.Command          { return todo("info") }
func NewDownCmd(f *cmdutil.Factory) *cobra.Command          { return todo("down") }
func NewConfigureCmd(f *cmdutil.Factory) *cobra.Command     { return todo("configure") }
func NewPolicyCmd(f *cmdutil.Factory) *cobra.Command        { return todo("policy") }
func NewExampleConfigCmd(f *cmdutil.Factory) *cobra.Command { return todo("example-config") }
