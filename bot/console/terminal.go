package console

import (
	"io"
	"os"

	"golang.org/x/term"
)

// Terminal reports whether w is a terminal and, if so, its width in columns
// (0 when unknown), for Options.TTY and Options.Width.
func Terminal(w io.Writer) (tty bool, width int) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false, 0
	}
	if cols, _, err := term.GetSize(int(f.Fd())); err == nil {
		width = cols
	}
	return true, width
}
