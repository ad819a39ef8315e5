// Package hints is what the responders of a new incident should see before
// they start digging: the past incidents most like this one, with what
// resolved them, and the recent changes (deploys, syncs) to the service
// that broke. The talk Tebura comes from names both: most incidents follow
// a change, and most have happened before.
//
// Changes arrive at /hooks/changes (GitHub deployment_status webhooks, Argo
// CD notifications, a generic JSON form, and `tebura change record`) and
// are kept in a ChangeStore; similar incidents are read from the incident
// store. The chat side draws both on the incident card
// (commands/incidentchat's hints part).
package hints

import (
	"context"
	"strings"
	"time"

	"github.com/tebura/tebura"
)

// Change is one change to a service: a deploy, a sync, a config push.
type Change struct {
	// ID identifies the change at its source (a GitHub delivery ID, an Argo
	// CD revision and time, a caller's own ID); a change whose ID is stored
	// already is not stored again, so a retried webhook counts once.
	ID string `json:"id"`
	// Service is the service changed, as the incidents' "service" label
	// names it.
	Service string `json:"service"`
	// Version is what was deployed (a tag, a commit, a revision).
	Version string `json:"version,omitempty"`
	// Environment is where (prod, staging), when the source says.
	Environment string `json:"environment,omitempty"`
	// By is who or what made the change.
	By string `json:"by,omitempty"`
	// URL links to the change (the deployment's log, the sync, the PR).
	URL string `json:"url,omitempty"`
	// Source is where the change came from: github, argocd, generic, cli.
	Source string `json:"source"`
	// Description is a one-line summary.
	Description string `json:"description,omitempty"`
	// At is when the change took effect.
	At time.Time `json:"at"`
}

// Limits on a change's fields: a change is a line on a card, not a log.
const (
	maxField       = 200
	maxDescription = 500
)

// Check reports the first problem with c as an EINVALID error whose
// sentence says what to send instead.
func (c *Change) Check() error {
	c.Service = strings.TrimSpace(c.Service)
	if c.Service == "" {
		return tebura.Errorf(tebura.EINVALID, "A change needs the service it changed (\"service\": \"api\").")
	}
	if c.At.IsZero() {
		return tebura.Errorf(tebura.EINVALID, "A change needs the time it took effect (\"at\", RFC 3339).")
	}
	for name, v := range map[string]string{"id": c.ID, "service": c.Service, "version": c.Version, "environment": c.Environment, "by": c.By, "url": c.URL} {
		if len(v) > maxField {
			return tebura.Errorf(tebura.EINVALID, "A change's %q is %d bytes; at most %d are taken.", name, len(v), maxField)
		}
	}
	if len(c.Description) > maxDescription {
		return tebura.Errorf(tebura.EINVALID, "A change's description is %d bytes; at most %d are taken.", len(c.Description), maxDescription)
	}
	if c.URL != "" && !strings.HasPrefix(c.URL, "https://") && !strings.HasPrefix(c.URL, "http://") {
		return tebura.Errorf(tebura.EINVALID, "A change's url must start with https:// (or http://), not %q.", c.URL)
	}
	if c.ID == "" {
		// A change without an ID of its own is the same change when the
		// same thing was sent again.
		c.ID = c.Source + ":" + c.Service + ":" + c.Version + ":" + c.At.UTC().Format(time.RFC3339Nano)
	}
	return nil
}

// ChangeStore keeps changes. store/bolt implements it.
type ChangeStore interface {
	// PutChange stores c unless a change with c.ID is stored already, and
	// reports whether it stored it.
	PutChange(ctx context.Context, c Change) (stored bool, err error)
	// Changes returns service's changes with At in [from, to], newest
	// first, at most limit of them.
	Changes(ctx context.Context, service string, from, to time.Time, limit int) ([]Change, error)
	// PruneChanges deletes the changes older than before and returns how
	// many it deleted.
	PruneChanges(ctx context.Context, before time.Time) (int, error)
}
