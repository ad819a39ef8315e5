package web

import (
	"bytes"
	"html/template"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/runbooks"
)

// pageNames are the templates under templates/, each rendered inside
// layout.html.
var pageNames = []string{"login", "signedout", "error", "incidents", "incident", "run", "runbooks", "runbook", "audit"}

func parseTemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"when":    when,
		"since":   func(t time.Time) string { return commands.Human(time.Since(t).Round(time.Second)) },
		"who":     commands.Who,
		"labels":  sortedPairs,
		"itoa":    itoa,
		"join":    strings.Join,
		"state":   stateLabel,
		"stateOK": func(s runbooks.State) string { return stateClass(s) },
	}
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", path.Join("templates", name+".html"))
		if err != nil {
			return nil, err
		}
		out[name] = t
	}
	return out, nil
}

// pageData is what every template gets: the viewer (nil before sign-in)
// and the page's own data.
type pageData struct {
	V *viewer
	D any
	// OIDC offers "Sign in with your identity provider" to people not
	// signed in.
	OIDC bool
}

// render executes page name into a buffer, then writes it with status: a
// template error never leaves half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, v *viewer, data any) {
	var buf bytes.Buffer
	if err := s.tmpl[name].Execute(&buf, pageData{V: v, D: data, OIDC: v == nil && s.oidcOn()}); err != nil {
		s.log.Error("web template failed", "page", name, "err", err)
		http.Error(w, "The page could not be drawn; the operators can find the details in the bot's log.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// pair is one label of an alert or an incident.
type pair struct{ K, V string }

func sortedPairs(m map[string]string) []pair {
	out := make([]pair, 0, len(m))
	for k, v := range m {
		out = append(out, pair{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].K < out[j].K })
	return out
}

func stateLabel(s runbooks.State) string { return strings.ReplaceAll(string(s), "_", " ") }

// stateClass is the CSS class of a run state's badge.
func stateClass(s runbooks.State) string {
	switch s {
	case runbooks.StateSucceeded:
		return "ok"
	case runbooks.StateFailed, runbooks.StateTimedOut, runbooks.StateDenied, runbooks.StateInterrupted:
		return "bad"
	case runbooks.StateRunning, runbooks.StateQueued:
		return "live"
	case runbooks.StatePendingApproval, runbooks.StateApproved:
		return "wait"
	}
	return "off"
}

// allowed reports whether the viewer may do a on rb.
func allowed(v *viewer, a access.Action, rb *runbooks.Runbook) bool {
	return commands.Allowed(v.policy, v.subject(), a, rb)
}
