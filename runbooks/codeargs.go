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
	// Tools that hand a string to a shell or an interpreter of their own.
	"flock":  {letters: "c", long: []string{"--command"}, argOpts: "wE", permute: true},
	"script": {letters: "c", long: []string{"--command"}, argOpts: "EIOBTm", permute: true},
	"psql":   {letters: "c", long: []string{"--command"}, argOpts: "dfhLoFpPRTUv", permute: true},
	"mysql":  {letters: "e", long: []string{"--execute"}, argOpts: "uhPDS", permute: true},
}

// operandCode are programs whose operands (not only a flag's value) are
// program text; each returns the indexes of the code arguments of the
// program whose options start at argv[from].
var operandCode = map[string]func(argv []string, from int) []int{
	"ssh":   sshCode,
	"watch": watchCode,
	"awk":   awkCode,
	"gawk":  awkCode,
	"mawk":  awkCode,
	"nawk":  awkCode,
	"sed":   sedCode,
}

// operandWhat names the code of operandCode programs, for messages.
var operandWhat = map[string]string{
	"ssh": "options or remote command", "watch": "command", "awk": "program",
	"gawk": "program", "mawk": "program", "nawk": "program", "sed": "script",
}

// sshCode: every option of ssh (-o ProxyCommand=… runs a command, and
// most others change where and how it connects) and every operand after
// the destination (joined, they are a command line for the remote shell).
// The destination itself may be templated.
func sshCode(argv []string, from int) []int {
	const argOpts = "BbcDEeFIiJLlmOoPpQRSWw"
	var out []int
	for j := from; j < len(argv); j++ {
		a := argv[j]
		switch {
		case a == "--":
			return appendRange(out, j+2, len(argv)) // argv[j+1] is the destination
		case len(a) > 1 && a[0] == '-':
			out = append(out, j)
			if strings.IndexByte(argOpts, a[len(a)-1]) >= 0 && !attachedValue(a, argOpts) && j+1 < len(argv) {
				j++
				out = append(out, j)
			}
		default:
			return appendRange(out, j+1, len(argv))
		}
	}
	return out
}

// attachedValue reports whether a clustered short option's value-taking
// flag has its value attached (-oProxyCommand=x), i.e. some letter before
// the last one takes a value.
func attachedValue(a, argOpts string) bool {
	for k := 1; k < len(a)-1; k++ {
		if strings.IndexByte(argOpts, a[k]) >= 0 {
			return true
		}
	}
	return false
}

func appendRange(out []int, from, to int) []int {
	for j := from; j < to; j++ {
		out = append(out, j)
	}
	return out
}

// watchCode: watch joins its operands into a command for sh -c.
func watchCode(argv []string, from int) []int {
	for j := from; j < len(argv); j++ {
		a := argv[j]
		switch {
		case a == "--":
			return appendRange(nil, j+1, len(argv))
		case a == "-n" || a == "--interval" || a == "-q" || a == "--equexit":
			j++ // the option's value
		case len(a) > 1 && a[0] == '-':
		default:
			return appendRange(nil, j, len(argv))
		}
	}
	return nil
}

// awkCode: the program is the value of -e/--source (gawk) and, unless -f
// or -e gives the program, the first operand.
func awkCode(argv []string, from int) []int {
	var out []int
	hasProgram := false
	for j := from; j < len(argv); j++ {
		a := argv[j]
		switch {
		case a == "--":
			if !hasProgram && j+1 < len(argv) {
				out = append(out, j+1)
			}
			return out
		case a == "-e" || a == "--source" || a == "-f" || a == "--file":
			hasProgram = true
			if (a == "-e" || a == "--source") && j+1 < len(argv) {
				out = append(out, j+1)
			}
			j++
		case strings.HasPrefix(a, "--source=") || (strings.HasPrefix(a, "-e") && !strings.HasPrefix(a, "--")):
			hasProgram = true
			out = append(out, j)
		case strings.HasPrefix(a, "--file=") || (strings.HasPrefix(a, "-f") && !strings.HasPrefix(a, "--")):
			hasProgram = true
		case a == "-F" || a == "-v" || a == "-i" || a == "-l" || a == "-E" || a == "--include" || a == "--load" || a == "--exec" ||
			a == "--field-separator" || a == "--assign":
			if a == "-E" || a == "--exec" {
				hasProgram = true // gawk -E file: the program is a file
			}
			j++
		case len(a) > 1 && a[0] == '-':
		default:
			if !hasProgram {
				out = append(out, j)
			}
			return out
		}
	}
	return out
}

// sedCode: the script is the value of -e/--expression and, unless -e or
// -f gives it, the first operand.
func sedCode(argv []string, from int) []int {
	var out []int
	hasScript := false
	for j := from; j < len(argv); j++ {
		a := argv[j]
		switch {
		case a == "--":
			if !hasScript && j+1 < len(argv) {
				out = append(out, j+1)
			}
			return out
		case a == "--expression" || a == "--file":
			hasScript = true
			if a == "--expression" && j+1 < len(argv) {
				out = append(out, j+1)
			}
			j++
		case strings.HasPrefix(a, "--expression="):
			hasScript = true
			out = append(out, j)
		case strings.HasPrefix(a, "--file="):
			hasScript = true
		case a == "-l" || a == "--line-length":
			j++
		case strings.HasPrefix(a, "--"):
		case len(a) > 1 && a[0] == '-':
			// Clustered short flags: -n, -E, -i[SUFFIX], -e SCRIPT, -f FILE.
		flags:
			for k := 1; k < len(a); k++ {
				c := a[k]
				if c == 'i' {
					break // the rest is the backup suffix
				}
				if c == 'e' || c == 'f' {
					hasScript = true
					switch {
					case k < len(a)-1 && c == 'e':
						out = append(out, j) // -e's/x/y/'
					case k == len(a)-1 && j+1 < len(argv):
						if c == 'e' {
							out = append(out, j+1)
						}
						j++
					}
					break flags
				}
			}
		default:
			if !hasScript {
				out = append(out, j)
			}
			return out
		}
	}
	return out
}

// programName returns the lower-case base name of an argv element with a
// version suffix removed: "/usr/bin/python3.12" → "python", "bash5" → "bash".
func programName(arg string) string {
	b := strings.ToLower(filepath.Base(arg))
	return strings.TrimRight(b, "0123456789.-")
}

// codeArgs returns the arguments of argv that are program text, each with
// the words that name whose text it is ("sh -c"), for a shell, an
// interpreter or a command-running tool named anywhere in argv — so
// wrappers such as env, sudo, timeout, busybox or `kubectl exec -- ` are
// covered without knowing them. A program name that merely appears as data
// (`grep -c sh`) is harmless when the program takes code only behind a
// flag; for programs whose operands are code (ssh, watch, awk, sed) a
// name in data position may refuse a safe step, which the author fixes
// with a script: step.
func codeArgs(argv []string) map[int]string {
	out := map[int]string{}
	for i, a := range argv {
		name := programName(a)
		if shells[name] {
			for _, j := range shellOptions(argv, i+1) {
				out[j] = name + " options"
			}
			if j := shellCommandString(argv, i+1); j >= 0 {
				out[j] = name + " -c"
			}
			continue
		}
		if in, ok := interpreters[name]; ok {
			if j := in.codeArg(argv, i+1); j >= 0 {
				what := name
				if j > i+1 && strings.HasPrefix(argv[j-1], "-") {
					what += " " + argv[j-1]
				}
				out[j] = what
			}
			continue
		}
		if f, ok := operandCode[name]; ok {
			for _, j := range f(argv, i+1) {
				out[j] = name + "'s " + operandWhat[name]
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

// shellOptions returns the indexes of the options (and their values) of a
// shell whose options start at argv[from]: a param there could add -c and
// make itself a command string ('-c{{ .Params.x }}'), or name an rc file.
func shellOptions(argv []string, from int) []int {
	var out []int
	for j := from; j < len(argv); j++ {
		a := argv[j]
		switch {
		case a == "--" || a == "-":
			return out
		case shellOptArg[a] || a == "-o" || a == "+o" || a == "-O" || a == "+O":
			out = append(out, j)
			if j+1 < len(argv) {
				j++
				out = append(out, j)
			}
		case len(a) > 1 && (a[0] == '-' || a[0] == '+'):
			out = append(out, j)
		default:
			return out
		}
	}
	return out
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
