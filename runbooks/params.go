package runbooks

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tebura/tebura"
)

// MaxValueLen is the longest parameter value accepted, in bytes. Values end
// up in argv, env and chat messages; nothing legitimate is longer.
const MaxValueLen = 4096

// paramEnvPrefix prefixes the environment variables that carry param
// values into steps: param "service" becomes TEBURA_PARAM_SERVICE.
const paramEnvPrefix = "TEBURA_PARAM_"

// ParamEnv returns the environment variable name that carries param name.
func ParamEnv(name string) string {
	return paramEnvPrefix + strings.ToUpper(name)
}

// compilePattern anchors a param pattern: the whole value must match.
func compilePattern(p string) (*regexp.Regexp, error) {
	return regexp.Compile(`^(?:` + p + `)$`)
}

// errMessage is the user sentence of a tebura error (or the error text).
func errMessage(err error) string {
	var e *tebura.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

// accepts says in words what a param accepts, for refusals and help.
func (p *Param) accepts() string {
	var s string
	switch p.Type {
	case TypeInt:
		s = "a whole number"
	case TypeBool:
		s = "true or false"
	case TypeEnum:
		s = "one of " + strings.Join(p.Values, ", ")
	case TypeDuration:
		s = "a duration like 30s, 5m or 1h"
	default:
		s = "text"
	}
	if p.Pattern != "" && p.Type != TypeEnum {
		s += " matching " + p.Pattern
	}
	return s
}

// got quotes a refused value for a message, unless it is secret.
func (p *Param) got(v string) string {
	if p.Secret {
		return "got a value that does not fit; it is secret so it is not shown"
	}
	if len(v) > 60 {
		v = v[:60] + "…"
	}
	return fmt.Sprintf("got %q", v)
}

// validate checks one value against the param and returns it in canonical
// form (ints and bools normalised; everything else as given). A string
// param without a pattern refuses a value starting with "-": rendered into
// argv it stays one argument, but the program may take it as an option
// (sort -o FILE writes a file). A pattern (or an enum) is the author's
// decision about what is allowed.
func (p *Param) validate(v string) (string, error) {
	bad := func() (string, error) {
		return "", tebura.Errorf(tebura.EINVALID, "%s must be %s (%s).", p.Name, p.accepts(), p.got(v))
	}
	if len(v) > MaxValueLen {
		return "", tebura.Errorf(tebura.EINVALID, "%s is too long: values are at most %d bytes.", p.Name, MaxValueLen)
	}
	if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
		return "", tebura.Errorf(tebura.EINVALID, "%s must be text without NUL bytes.", p.Name)
	}
	out := v
	switch p.Type {
	case TypeInt:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return bad()
		}
		out = strconv.FormatInt(n, 10)
	case TypeBool:
		switch strings.ToLower(v) {
		case "true", "yes", "on", "1":
			out = "true"
		case "false", "no", "off", "0":
			out = "false"
		default:
			return bad()
		}
	case TypeEnum:
		if !contains(p.Values, v) {
			return bad()
		}
	case TypeDuration:
		if d, err := time.ParseDuration(v); err != nil || d < 0 {
			return bad()
		}
	case TypeString:
		if p.Pattern == "" && strings.HasPrefix(v, "-") {
			return "", tebura.Errorf(tebura.EINVALID, "%s must not start with \"-\": the command it is passed to could read it as an option "+
				"(like -o FILE). Give the value without the leading dash; if the runbook needs such values, its author can allow them with a pattern for %s.", p.Name, p.Name)
		}
	}
	if p.Pattern != "" {
		re, err := compilePattern(p.Pattern)
		if err != nil {
			return "", tebura.Wrap(tebura.EINVALID, err, fmt.Sprintf("The pattern of %s does not compile; fix the runbook.", p.Name))
		}
		if !re.MatchString(v) {
			return bad()
		}
	}
	return out, nil
}

// ParseArgs validates "key=value" arguments (split on the first "=", so
// values may contain "=") and fills defaults. A key given twice is refused.
func (rb *Runbook) ParseArgs(args []string) (Values, error) {
	raw := make(map[string]string, len(args))
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, tebura.Errorf(tebura.EINVALID, "Arguments are written key=value; %q has no key. %s", trim(a), rb.usage())
		}
		if _, dup := raw[k]; dup {
			return nil, tebura.Errorf(tebura.EINVALID, "%s is given twice; give each parameter once.", k)
		}
		raw[k] = v
	}
	return rb.Bind(raw)
}

func trim(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// usage lists the params in one sentence.
func (rb *Runbook) usage() string {
	if len(rb.Params) == 0 {
		return fmt.Sprintf("Runbook %s takes no parameters.", rb.Name)
	}
	var parts []string
	for _, p := range rb.Params {
		s := p.Name + " (" + p.accepts()
		if p.Required {
			s += ", required"
		}
		parts = append(parts, s+")")
	}
	return fmt.Sprintf("Runbook %s takes %s.", rb.Name, strings.Join(parts, ", "))
}

// Bind validates raw values by param name and fills defaults: every
// declared param has an entry in the result ("" for an optional param with
// neither value nor default). All refusals are joined into one message, each
// a sentence naming the param and what it accepts.
func (rb *Runbook) Bind(raw map[string]string) (Values, error) {
	var msgs []string
	var unknown []string
	for k := range raw {
		if rb.param(k) == nil {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		if len(rb.Params) == 0 {
			msgs = append(msgs, fmt.Sprintf("Runbook %s takes no parameters, so %s is not accepted.", rb.Name, trim(k)))
			continue
		}
		names := make([]string, len(rb.Params))
		for i, p := range rb.Params {
			names[i] = p.Name
		}
		msgs = append(msgs, fmt.Sprintf("Runbook %s has no parameter %q; it accepts %s.", rb.Name, trim(k), strings.Join(names, ", ")))
	}
	out := make(Values, len(rb.Params))
	for i := range rb.Params {
		p := &rb.Params[i]
		v, given := raw[p.Name]
		switch {
		case given && v == "" && p.Required:
			msgs = append(msgs, fmt.Sprintf("%s is required and cannot be empty: give %s.", p.Name, p.accepts()))
		case given && v == "" && p.Default == "":
			// The same as leaving it out, so Bind(Bind(x)) == Bind(x).
			out[p.Name] = ""
		case given:
			canon, err := p.validate(v)
			if err != nil {
				msgs = append(msgs, errMessage(err))
				continue
			}
			out[p.Name] = canon
		case p.Required:
			msgs = append(msgs, fmt.Sprintf("%s is required: give %s=… with %s.", p.Name, p.Name, p.accepts()))
		default:
			out[p.Name] = p.Default
			if p.Default != "" {
				if canon, err := p.validate(p.Default); err == nil {
					out[p.Name] = canon
				}
			}
		}
	}
	if len(msgs) > 0 {
		return nil, tebura.Errorf(tebura.EINVALID, "%s", strings.Join(msgs, " "))
	}
	return out, nil
}

func (rb *Runbook) param(name string) *Param {
	for i := range rb.Params {
		if rb.Params[i].Name == name {
			return &rb.Params[i]
		}
	}
	return nil
}

// Secrets returns the values of v's secret params (non-empty ones), for the
// redactor.
func (rb *Runbook) Secrets(v Values) []string {
	var out []string
	for _, p := range rb.Params {
		if p.Secret && v[p.Name] != "" {
			out = append(out, v[p.Name])
		}
	}
	return out
}

// SecretNames returns the names of the secret params (for Run.Secret).
func (rb *Runbook) SecretNames() []string {
	var out []string
	for _, p := range rb.Params {
		if p.Secret {
			out = append(out, p.Name)
		}
	}
	return out
}

// SecretMask stands for a secret param's value wherever params are shown.
const SecretMask = "••••••"

// QuoteValue writes s so that the command grammar (commands.Tokenize)
// reads it back as exactly s, one token: the form params take in run
// messages and audit entries. Plain words are returned as they are.
func QuoteValue(s string) string {
	if s == "" {
		return "''"
	}
	if !strings.ContainsFunc(s, needsQuote) {
		return s
	}
	if !strings.ContainsRune(s, '\'') {
		return "'" + s + "'"
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// needsQuote: spaces, quotes (straight and typographic) and broken UTF-8.
func needsQuote(r rune) bool {
	switch r {
	case '\'', '"', '\u201c', '\u201d', '\u2018', utf8.RuneError:
		return true
	}
	return unicode.IsSpace(r)
}
