// Package confirm asks the user before cortex does something that costs money or cannot be
// undone. The question goes through a Confirmer (a terminal prompt today; any prompter that
// honours Ctrl-C fits); without a terminal, only an explicit --yes lets the command go ahead.
package confirm

import (
	"errors"
	"fmt"
)

// Confirmer asks a yes/no question.
type Confirmer interface {
	Confirm(question string) (bool, error)
}

// ErrDeclined is returned when the user answers no.
var ErrDeclined = errors.New("aborted: nothing was changed")

// Ask returns nil when yes is set (--yes) or the user agrees. With no Confirmer (no terminal) it
// refuses and says how to go ahead.
func Ask(c Confirmer, yes bool, question string) error {
	if yes {
		return nil
	}
	if c == nil {
		return fmt.Errorf("%s: there is no terminal to ask on; pass --yes to go ahead", question)
	}
	ok, err := c.Confirm(question)
	if err != nil {
		return err
	}
	if !ok {
		return ErrDeclined
	}
	return nil
}
