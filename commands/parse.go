package commands

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/runbooks"
)

// Typographic quotes that chat clients substitute for straight ones (macOS
// and iOS "smart quotes", Slack's autocorrect). They are accepted so that a
// pasted command works as typed.
const (
	leftDouble  = '\u201c' // “
	rightDouble = '\u201d' // ”
	leftSingle  = '\u2018' // ‘
	rightSingle = '\u2019' // ’ (also the typographic apostrophe)
)

// Tokenize splits a command line into words the way a careful shell would,
// without ever expanding anything: $, `, ~, * and friends are literal.
//
//   - Words are separated by whitespace (any Unicode space).
//   - 'single quotes' keep everything literally up to the next '.
//   - "double quotes" keep everything up to the next ", where \" and \\
//     are the only escapes (any other backslash is kept as typed).
//   - “typographic double quotes” work like double quotes and close on ” or “.
//   - ‘typographic single quotes’ work like single quotes and close on ’; a ’
//     outside a quote is an apostrophe and kept (don’t).
//   - Quoted parts join the word they touch: msg="a b" is the one word msg=a b.
//   - A backslash outside quotes is literal.
//
// An unterminated quote is an EINVALID error that says which quote is open.
func Tokenize(s string) ([]string, error) {
	var (
		tokens []string
		cur    strings.Builder
		inWord bool
	)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\'' || r == leftSingle:
			closers := "'"
			if r == leftSingle {
				closers = string(rightSingle)
			}
			end := strings.IndexAny(s[i+n:], closers)
			if end < 0 {
				return nil, unterminated(r, s[i:])
			}
			cur.WriteString(s[i+n : i+n+end])
			_, cn := utf8.DecodeRuneInString(s[i+n+end:])
			i += n + end + cn
			inWord = true
		case r == '"' || r == leftDouble || r == rightDouble:
			next, ok := doubleQuoted(s, i+n, r != '"', &cur)
			if !ok {
				return nil, unterminated(r, s[i:])
			}
			i = next
			inWord = true
		case unicode.IsSpace(r):
			if inWord {
				tokens = append(tokens, cur.String())
				cur.Reset()
				inWord = false
			}
			i += n
		default:
			// Copy the original bytes so that invalid UTF-8 survives as is.
			cur.WriteString(s[i : i+n])
			i += n
			inWord = true
		}
	}
	if inWord {
		tokens = append(tokens, cur.String())
	}
	return tokens, nil
}

// doubleQuoted copies a double-quoted part starting after its opening quote
// at s[i:] into cur and returns the index after the closing quote.
// Typographic parts close on either typographic double quote. ok is false
// when the quote is never closed.
func doubleQuoted(s string, i int, typographic bool, cur *strings.Builder) (next int, ok bool) {
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case !typographic && r == '"', typographic && (r == rightDouble || r == leftDouble):
			return i + n, true
		case r == '\\' && i+n < len(s):
			e, en := utf8.DecodeRuneInString(s[i+n:])
			if e == '\\' || (!typographic && e == '"') || (typographic && (e == rightDouble || e == leftDouble)) {
				cur.WriteString(s[i+n : i+n+en])
				i += n + en
				continue
			}
			cur.WriteByte('\\')
			i += n
		default:
			cur.WriteString(s[i : i+n])
			i += n
		}
	}
	return i, false
}

func unterminated(q rune, rest string) error {
	closing := map[rune]string{'\'': "'", '"': `"`, leftDouble: "”", rightDouble: "”", leftSingle: "’"}[q]
	snippet := rest
	if utf8.RuneCountInString(snippet) > 20 {
		snippet = string([]rune(snippet)[:20]) + "…"
	}
	return tebura.Errorf(tebura.EINVALID,
		"The quote %c that starts at `%s` is never closed. Add the closing %s, or remove the quote.",
		q, snippet, closing)
}

// Quote returns s written so that Tokenize gives back exactly s as one
// token. Plain words are returned as they are. The grammar's quoting lives
// in runbooks, where run params are shown for audit entries too.
func Quote(s string) string { return runbooks.QuoteValue(s) }

// ParseArgs turns k=v words into a map. Each word is split on its first
// '=': the key must be a parameter name, the value may be empty and may
// contain '='. A word without '=' or a key given twice is an EINVALID error
// that shows how to write it.
func ParseArgs(words []string) (map[string]string, error) {
	out := make(map[string]string, len(words))
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			return nil, tebura.Errorf(tebura.EINVALID,
				"`%s` is not a parameter. Parameters are written name=value, for example `env=prod`; quote values with spaces: `msg=\"a b\"`.", w)
		}
		if !validKey(k) {
			return nil, tebura.Errorf(tebura.EINVALID,
				"`%s` is not a valid parameter name. Names are letters, digits, - and _, as in `env=prod`.", k)
		}
		if _, dup := out[k]; dup {
			return nil, tebura.Errorf(tebura.EINVALID, "The parameter `%s` is given twice. Give it once.", k)
		}
		out[k] = v
	}
	return out, nil
}

func validKey(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for _, r := range k {
		ok := r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !ok {
			return false
		}
	}
	return true
}

// Verb is what a command asks for.
type Verb string

// Verbs of the /runbook and /tebura roots.
const (
	VerbList     Verb = "list"
	VerbDescribe Verb = "describe"
	VerbRun      Verb = "run"
	VerbStatus   Verb = "status"
	VerbCancel   Verb = "cancel"
	VerbLogs     Verb = "logs"
	VerbHelp     Verb = "help"
	VerbWhoami   Verb = "whoami"
	// VerbReload reloads config, runbooks and access (admins only).
	VerbReload Verb = "reload"
	// VerbLogin sends a private one-time link that signs a browser in to
	// the web view as the person who asked.
	VerbLogin Verb = "login"
)

// Neutral command roots. Adapters map the configured names back to these;
// Parse accepts either.
const (
	RootRunbook  = "runbook"
	RootIncident = "incident"
	RootTebura   = "tebura"
)

// Request is a parsed command.
type Request struct {
	Root string // RootRunbook, RootTebura or RootIncident
	Verb Verb
	// Name is the runbook for describe and run. Implicit is true when it
	// was given without "run" (/runbook NAME ...), so an unknown name is
	// answered as an unknown subcommand.
	Name     string
	Implicit bool
	Run      string            // run ID for status, cancel, logs
	Args     map[string]string // k=v for run
	Words    []string          // every word after the root (incident handlers parse their own)
}

// Names are the command roots people type, from config.Bot.Commands, with
// the neutral names as defaults.
type Names struct{ Runbook, Incident, Tebura string }

// NamesOf fills the defaults of the configured command names.
func NamesOf(c config.BotCommands) Names {
	n := Names{Runbook: c.Runbook, Incident: c.Incident, Tebura: c.Tebura}
	if n.Runbook == "" {
		n.Runbook = RootRunbook
	}
	if n.Incident == "" {
		n.Incident = RootIncident
	}
	if n.Tebura == "" {
		n.Tebura = RootTebura
	}
	n.Runbook = strings.TrimPrefix(n.Runbook, "/")
	n.Incident = strings.TrimPrefix(n.Incident, "/")
	n.Tebura = strings.TrimPrefix(n.Tebura, "/")
	return n
}

// root maps a typed root (neutral or configured, with or without slash) to
// the neutral root, or "".
func (n Names) root(name string) string {
	name = strings.TrimPrefix(name, "/")
	switch name {
	case RootRunbook, n.Runbook:
		return RootRunbook
	case RootIncident, n.Incident:
		return RootIncident
	case RootTebura, n.Tebura:
		return RootTebura
	}
	return ""
}

// Typed returns the root as people type it, with its slash.
func (n Names) Typed(root string) string {
	switch root {
	case RootRunbook:
		return "/" + n.Runbook
	case RootIncident:
		return "/" + n.Incident
	}
	return "/" + n.Tebura
}

var runbookVerbs = []Verb{VerbList, VerbDescribe, VerbRun, VerbStatus, VerbCancel, VerbLogs}
var teburaVerbs = []Verb{VerbHelp, VerbWhoami, VerbReload, VerbLogin}

// Parse parses the text after a command root. runbookNames are the runbooks
// the caller may see: the first word of /runbook may name one directly, and
// they are candidates for suggestions.
func (n Names) Parse(root, text string, runbookNames []string) (Request, error) {
	words, err := Tokenize(text)
	if err != nil {
		return Request{}, err
	}
	neutral := n.root(root)
	req := Request{Root: neutral, Words: words}
	switch neutral {
	case RootIncident:
		return req, nil
	case RootTebura:
		if len(words) == 0 {
			req.Verb = VerbHelp
			return req, nil
		}
		switch Verb(words[0]) {
		case VerbHelp:
			req.Verb = VerbHelp
		case VerbWhoami:
			req.Verb = VerbWhoami
		case VerbReload:
			req.Verb = VerbReload
		case VerbLogin:
			req.Verb = VerbLogin
		default:
			return req, n.Unknown(neutral, words[0], verbStrings(teburaVerbs))
		}
		if len(words) > 1 {
			return req, tebura.Errorf(tebura.EINVALID, "`%s %s` takes no arguments.", n.Typed(neutral), words[0])
		}
		return req, nil
	case RootRunbook:
		return n.parseRunbook(req, words, runbookNames)
	}
	return req, tebura.Errorf(tebura.EINVALID, "There is no command `/%s`. Type `%s help` for everything you can do.",
		strings.TrimPrefix(root, "/"), n.Typed(RootTebura))
}

func (n Names) parseRunbook(req Request, words, runbookNames []string) (Request, error) {
	rb := n.Typed(RootRunbook)
	if len(words) == 0 {
		req.Verb = VerbList
		return req, nil
	}
	need := func(what string, count int) error {
		if len(words)-1 < count {
			return tebura.Errorf(tebura.EINVALID, "`%s %s` needs %s, as in `%s %s %s`.", rb, words[0], what, rb, words[0], example(what))
		}
		if len(words)-1 > count {
			return tebura.Errorf(tebura.EINVALID, "`%s %s` takes only %s; `%s` is one word too many.", rb, words[0], what, words[count+1])
		}
		return nil
	}
	switch v := Verb(words[0]); v {
	case VerbList:
		req.Verb = v
		return req, need("nothing", 0)
	case VerbDescribe:
		req.Verb = v
		if err := need("a runbook name", 1); err != nil {
			return req, err
		}
		req.Name = words[1]
	case VerbRun:
		req.Verb = v
		if len(words) < 2 {
			return req, need("a runbook name", 1)
		}
		req.Name = words[1]
		args, err := ParseArgs(words[2:])
		if err != nil {
			return req, err
		}
		req.Args = args
	case VerbStatus:
		req.Verb = v
		if len(words) > 2 {
			return req, need("an optional run ID", 1)
		}
		if len(words) == 2 {
			req.Run = words[1]
		}
	case VerbCancel, VerbLogs:
		req.Verb = v
		if err := need("a run ID", 1); err != nil {
			return req, err
		}
		req.Run = words[1]
	default:
		// /runbook NAME k=v ...: a runbook named directly. A word that is
		// neither a verb nor a runbook is answered with the nearest of both.
		if !contains(runbookNames, words[0]) {
			return req, n.Unknown(RootRunbook, words[0], append(verbStrings(runbookVerbs), runbookNames...))
		}
		args, err := ParseArgs(words[1:])
		if err != nil {
			return req, err
		}
		req.Verb, req.Name, req.Implicit, req.Args = VerbRun, words[0], true, args
	}
	return req, nil
}

func example(what string) string {
	switch what {
	case "a runbook name":
		return "restart-api"
	case "a run ID", "an optional run ID":
		return "r42"
	}
	return ""
}

// Unknown is the answer to a subcommand that does not exist: the nearest
// valid one, if any is close, and where to find the rest.
func (n Names) Unknown(root, word string, candidates []string) error {
	msg := "There is no `" + n.Typed(root) + " " + word + "`."
	if s := Suggest(word, candidates); s != "" {
		msg += " Did you mean `" + n.Typed(root) + " " + s + "`?"
	}
	msg += " Type `" + n.Typed(RootTebura) + " help` for everything you can do."
	return tebura.Errorf(tebura.EINVALID, "%s", msg)
}

// Suggest returns the candidate nearest to word by edit distance, or "" if
// none is close enough to be a plausible typo (at most a third of the
// word's length, at least 2). Ties go to the alphabetically first.
func Suggest(word string, candidates []string) string {
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	limit := max(2, utf8.RuneCountInString(word)/3)
	best, bestD := "", limit+1
	for _, c := range sorted {
		if d := tebura.EditDistance(strings.ToLower(word), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func verbStrings(vs []Verb) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// RunbookVerbs are the verbs of /runbook, for suggesting the nearest one to
// a word that is neither a verb nor a runbook.
func RunbookVerbs() []string { return verbStrings(runbookVerbs) }
