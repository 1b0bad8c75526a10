package cluster

import (
	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
)

func newAccessCmd(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{Use: "access", Short: "List, grant and revoke who may use the cluster"}
}
