package root

import (
	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/cli/apikey"
	"github.com/cortexlabs-go/cortex/internal/cli/call"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	deletecmd "github.com/cortexlabs-go/cortex/internal/cli/delete"
	"github.com/cortexlabs-go/cortex/internal/cli/deploy"
	"github.com/cortexlabs-go/cortex/internal/cli/env"
	"github.com/cortexlabs-go/cortex/internal/cli/get"
	"github.com/cortexlabs-go/cortex/internal/cli/logs"
	"github.com/cortexlabs-go/cortex/internal/cli/operatorcmd"
	"github.com/cortexlabs-go/cortex/internal/cli/token"
	"github.com/cortexlabs-go/cortex/internal/cli/whoami"
)

// The top-level commands besides `cluster`. Each command package owns its command; this list is
// the only place that names them.
func init() {
	extraCommands = append(extraCommands,
		func(f *cmdutil.Factory) *cobra.Command { return newVersionCmd(f) },
		env.NewCmd,
		whoami.NewCmd,
		operatorcmd.NewCmd,
		deploy.NewCmd,
		get.NewCmd,
		deletecmd.NewCmd,
		logs.NewCmd,
		call.NewCmd,
		apikey.NewCmdAPIKey,
		func(f *cmdutil.Factory) *cobra.Command { return token.NewCmdToken(f, nil) },
	)
}
