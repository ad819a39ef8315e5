package runbooks

import (
	"path/filepath"
	"strings"
)

// A run step's argv never passes through a shell, so a param rendered into
// an argument stays one argument. That guarantee is lost when the argument
// is itself program text: the command string of `sh -c` or the one-liner of
// `python -c` is parsed again by the program, and a param inside it can
// close a quote and run anything. codeArgs finds those arguments so that the
// loader can refuse templates in them.

// shells are the base names (version suffix removed) whose -c flag makes
// the first operand a command string.
var shells = map[string]bool{
	"sh": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "mksh": true,
	"pdksh": true, "ash": true, "yash": true, "fish": true, "csh": true, "tcsh": true,
	"rbash": true,
}

// shellOptArg are shell options that take the next argument as their value.
var shellOptArg = map[string]bool{"--rcfile": true, "--init-file": true, "--init-command": true, "-C": true}

// interpreter describes how an interpreter takes program text on its
// command line: a short flag (possibly clustered, value attached or next)
// or a long flag (value next or after "=").
type interpreter struct {
	letters string   // short flags whose value is program text
	long    []string // long flags whose value is program text
	argOpts string   // other short flags that take the next argument
	stop    string   // short flags after which the rest are operands (python -m)
	permute bool     // options may follow operands (GNU getopt: su USER -c CMD)
}

// interpreters are the base names (version suffix removed) of interpreters
// with a one-liner flag.
var interpreters = map[string]interpreter{
	"python":  {letters: "c", argOpts: "WX", stop: "m"},
	"pypy":    {letters: "c", argOpts: "WX", stop: "m"},
	"perl":    {letters: "eE"},
	"ruby":    {letters: "e", argOpts: "IrCEF"},
	"node":    {letters: "ep", long: []string{"--eval", "--print"}, argOpts: "r"},
	"nodejs":  {letters: "ep", long: []string{"--eval", "--print"}, argOpts: "r"},
	"bun":     {letters: "ep", long: []string{"--eval", "--print"}},
	"php":     {letters: "rBRE", argOpts: "cdfz"},
	"lua":     {letters: "e", argOpts: "l"},
	"luajit":  {letters: "e", argOpts: "l"},
	"rscript": {letters: "e"},
	"su":      {letters: "c", long: []string{"--command"}, argOpts: "gGs", permute: true},
	"runuser": {letters: "c", long: []string{"--command"}, argOpts: "gGsu", permute: true},
}

// programName returns the lower-case base name of an argv element with a
// version suffix removed: "/usr/bin/python3.12" → "python", "bash5" → "bash".
func programName(arg string) string {
	b := strings.ToLower(filepath.Base(arg))
	return strings.TrimRight(b, "0123456789.-")
}

// codeArgs returns the indexes of the arguments of argv that are program
// text for a shell or an interpreter named anywhere in argv — so wrappers
// such as env, sudo, timeout, busybox or `kubectl exec -- ` are covered
// without knowing them. A program name that merely appears as data (`grep
// -c sh`) is harmless: only its own code flag counts.
func codeArgs(argv []string) []int {
	var out []int
	for i, a := range argv {
		name := programName(a)
		if shells[name] {
			if j := shellCommandString(argv, i+1); j >= 0 {
				out = append(out, j)
			}
			continue
		}
		if in, ok := interpreters[name]; ok {
			if j := in.codeArg(argv, i+1); j >= 0 {
				out = append(out, j)
			}
		}
	}
	return out
}

// shellCommandString returns the index of the command string of a shell
// whose options start at argv[from]: with -c among the options (alone or
// clustered: -ec, -lc, -xec), the first operand; otherwise -1.
func shellCommandString(argv []string, from int) int {
	seenC := false
	for j := from; j < len(argv); j++ {
		a := argv[j]
		switch {
		case a == "--" || a == "-":
			if seenC && j+1 < len(argv) {
				return j + 1
			}
			return -1
		case shellOptArg[a] || a == "-o" || a == "+o" || a == "-O" || a == "+O":
			j++ // the option's value
		case strings.HasPrefix(a, "--"):
			// a long option without a value (--norc, --login)
		case len(a) > 1 && (a[0] == '-' || a[0] == '+'):
			if a[0] == '-' && strings.ContainsRune(a[1:], 'c') {
				seenC = true
			}
		default:
			if seenC {
				return j
			}
			return -1
		}
	}
	return -1
}

// codeArg returns the index of the program text given to the interpreter
// whose options start at argv[from], or -1 when it runs a file.
func (in interpreter) codeArg(argv []string, from int) int {
	for j := from; j < len(argv); j++ {
		a := argv[j]
		switch {
		case a == "--":
			return -1
		case a == "-" || len(a) < 2 || a[0] != '-':
			if in.permute {
				continue // an operand such as su's user; options may follow
			}
			return -1 // a script file or stdin: the rest are its arguments
		case strings.HasPrefix(a, "--"):
			for _, l := range in.long {
				if a == l {
					if j+1 < len(argv) {
						return j + 1
					}
					return -1
				}
				if strings.HasPrefix(a, l+"=") {
					return j
				}
			}
		default:
			for k := 1; k < len(a); k++ {
				c := a[k]
				switch {
				case strings.IndexByte(in.letters, c) >= 0:
					if k == len(a)-1 {
						if j+1 < len(argv) {
							return j + 1
						}
						return -1
					}
					return j // value attached: -e'print 1'
				case strings.IndexByte(in.stop, c) >= 0:
					return -1
				case strings.IndexByte(in.argOpts, c) >= 0:
					if k == len(a)-1 {
						j++ // value is the next argument
					}
					k = len(a) // value attached or consumed
				}
			}
		}
	}
	return -1
}
