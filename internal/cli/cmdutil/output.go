package cmdutil

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// Output formats accepted by -o/--output.
const (
	FormatTable = "table"
	FormatJSON  = "json"
	FormatYAML  = "yaml"
)

// AddOutputFlag registers -o/--output on cmd and returns where the value lands. An unknown
// format is refused while the flags are parsed: a usage error, before any work is done.
func AddOutputFlag(cmd *cobra.Command) *string {
	format := FormatTable
	cmd.Flags().VarP((*formatValue)(&format), "output", "o", "output format: table, json or yaml")
	_ = cmd.RegisterFlagCompletionFunc("output", FixedValues(FormatTable, FormatJSON, FormatYAML))
	return &format
}

type formatValue string

func (v *formatValue) String() string { return string(*v) }
func (v *formatValue) Type() string   { return "format" }
func (v *formatValue) Set(s string) error {
	if err := ValidateFormat(s); err != nil {
		return errors.New("use table, json or yaml")
	}
	*v = formatValue(s)
	return nil
}

// FixedValues is the completion of a flag or argument with a fixed set of values.
func FixedValues(values ...string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// ValidateFormat rejects an unknown -o value before any work is done.
func ValidateFormat(format string) error {
	switch format {
	case FormatTable, FormatJSON, FormatYAML:
		return nil
	}
	return fmt.Errorf("invalid --output %q: use table, json or yaml", format)
}

// Print writes v as JSON or YAML, or calls table with a tab writer for the table format.
func Print(w io.Writer, format string, v any, table func(tw *tabwriter.Writer)) error {
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case FormatYAML:
		data, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	case FormatTable:
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		table(tw)
		return tw.Flush()
	}
	return ValidateFormat(format)
}
