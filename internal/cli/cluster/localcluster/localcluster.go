// Package localcluster is the local provider of `cortex cluster`. (Placeholder until it lands.)
package localcluster

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
)

func todo(use string) *cobra.Command {
	return &cobra.Command{Use: use, RunE: func(*cobra.Command, []string) error {
		return errors.New("the local provider is not available in this build yet")
	}}
}

func NewUpCmd(f *cmdutil.Factory) *cobra.Command   { return todo("up") }
func NewInfoCmd(f *cmdutil.Factory) *cobra.Command { return todo("info") }
func NewDownCmd(f *cmdutil.Factory) *cobra.Command { return todo("down") }
