package oncall

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/incident"
)

// Timeline entry kinds this package writes and reads.
const (
	// KindPaged is written each time an on-call schedule is paged: who
	// was reached and who could not be (Data "page", a JSON Page).
	KindPaged = "oncall.paged"
	// KindEscalated is written when an escalation level is paged (Data
	// "rule", "level").
	KindEscalated = "oncall.escalated"
)

// Service resolves schedules into people and people into chat identities.
type Service struct {
	schedules  map[string]Schedule
	identities map[string]string // lower-case email → identity
	dirs       map[string]bot.UserDirectory
	now        func() time.Time
	log        *slog.Logger
}

// Deps are what a Service is built from.
type Deps struct {
	// Schedules by name, as oncall:NAME names them.
	Schedules map[string]Schedule
	// Identities map emails to chat identities (oncall.identities).
	Identities map[string]string
	// Directories look people up by email, per platform ("slack").
	Directories map[string]bot.UserDirectory
	Clock       func() time.Time
	Logger      *slog.Logger
}

// NewService builds the on-call service.
func NewService(d Deps) *Service {
	s := &Service{schedules: d.Schedules, identities: map[string]string{}, dirs: d.Directories, now: d.Clock, log: d.Logger}
	for e, id := range d.Identities {
		s.identities[strings.ToLower(e)] = id
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Names are the schedules' names, sorted.
func (s *Service) Names() []string {
	out := make([]string, 0, len(s.schedules))
	for n := range s.schedules {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Rotation is who is on call on one schedule now, and who is next.
type Rotation struct {
	Schedule string
	Now      Shift
	Next     Shift
}

// Rotation reads schedule name now.
func (s *Service) Rotation(ctx context.Context, name string) (Rotation, error) {
	sch, ok := s.schedules[name]
	if !ok {
		return Rotation{}, s.unknown(name)
	}
	now, next, err := NowAndNext(ctx, sch, s.now())
	if err != nil {
		return Rotation{}, tebura.Wrap(tebura.ETRANSIENT, err, fmt.Sprintf("The on-call schedule %s could not be read; try again in a minute.", name))
	}
	return Rotation{Schedule: name, Now: now, Next: next}, nil
}

func (s *Service) unknown(name string) error {
	if len(s.schedules) == 0 {
		return tebura.Errorf(tebura.ENOTFOUND, "No on-call schedule is configured; add one under oncall.schedules.")
	}
	return tebura.Errorf(tebura.ENOTFOUND, "There is no on-call schedule %q; the schedules are %s.", name, strings.Join(s.Names(), ", "))
}

// Reached is a person matched to a chat account.
type Reached struct {
	Person
	Identity string `json:"identity"`
}

// Missed is a person who could not be matched to a chat account, and why.
type Missed struct {
	Person
	Reason string `json:"reason"`
}

// Page is the outcome of paging one schedule: who was on call, who of them
// can be invited, who cannot (named on the card, never dropped) and, when
// the schedule could not be read, why.
type Page struct {
	Schedule string    `json:"schedule"`
	At       time.Time `json:"at"`
	Reached  []Reached `json:"reached,omitempty"`
	Missed   []Missed  `json:"missed,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// Page resolves who is on call on schedule name now and matches them to
// platform's accounts.
func (s *Service) Page(ctx context.Context, name, platform string) Page {
	pg := Page{Schedule: name, At: s.now()}
	rot, err := s.Rotation(ctx, name)
	if err != nil {
		s.log.Warn("on-call schedule not read", "schedule", name, "err", err)
		pg.Error = tebura.ErrorMessage(err)
		return pg
	}
	if rot.Now.Empty() {
		pg.Error = "nobody is on call on " + name + " now"
		return pg
	}
	for _, p := range rot.Now.People {
		id, reason := s.Match(ctx, p, platform)
		if id != "" {
			pg.Reached = append(pg.Reached, Reached{Person: p, Identity: id})
		} else {
			pg.Missed = append(pg.Missed, Missed{Person: p, Reason: reason})
		}
	}
	return pg
}

// Match finds p's account on platform: the chat identity the schedule
// gives, then oncall.identities, then the platform's directory by email.
// When none answers it returns "" and a reason for people to read.
func (s *Service) Match(ctx context.Context, p Person, platform string) (identity, reason string) {
	if p.Chat != "" && onPlatform(p.Chat, platform) {
		return p.Chat, ""
	}
	if p.Email == "" {
		return "", "the schedule gives no email to find their chat account by"
	}
	if id := s.identities[strings.ToLower(p.Email)]; id != "" && onPlatform(id, platform) {
		return id, ""
	}
	dir := s.dirs[platform]
	if dir == nil {
		return "", fmt.Sprintf("%s cannot look people up by email and oncall.identities has no %s account for %s", platform, platform, p.Email)
	}
	id, err := dir.LookupEmail(ctx, p.Email)
	switch {
	case err == nil && id != "":
		return id, ""
	case tebura.ErrorCode(err) == tebura.ENOTFOUND || err == nil:
		return "", fmt.Sprintf("no %s account has the email %s", platform, p.Email)
	default:
		s.log.Warn("chat lookup by email failed", "platform", platform, "err", err)
		return "", fmt.Sprintf("looking up %s on %s failed: %s", p.Email, platform, tebura.ErrorMessage(err))
	}
}

// onPlatform reports whether identity ("slack:U1") belongs to platform.
func onPlatform(identity, platform string) bool {
	kind, _, _ := strings.Cut(identity, ":")
	return kind == platform || strings.HasPrefix(kind, platform+"-")
}

// Expand turns invite entries into identities for platform: oncall:NAME
// pages the schedule (its Page is returned, to be recorded), role:NAME
// becomes the role name, the rest pass as they are (roles and identities,
// which the caller expands).
func (s *Service) Expand(ctx context.Context, entries []string, platform string) (members []string, pages []Page) {
	paged := map[string]bool{}
	for _, e := range entries {
		kind, name, _ := strings.Cut(e, ":")
		switch kind {
		case "oncall":
			if paged[name] {
				continue
			}
			paged[name] = true
			pg := s.Page(ctx, name, platform)
			pages = append(pages, pg)
			for _, r := range pg.Reached {
				members = append(members, r.Identity)
			}
		case "role":
			members = append(members, name)
		default:
			members = append(members, e)
		}
	}
	seen := map[string]bool{}
	members = slices.DeleteFunc(members, func(m string) bool {
		dup := seen[m]
		seen[m] = true
		return dup
	})
	return members, pages
}

// Entry is the timeline entry that records pg: its text names everyone,
// reached or not.
func (pg Page) Entry() incident.TimelineEntry {
	b, _ := json.Marshal(pg)
	return incident.TimelineEntry{Time: pg.At, Actor: incident.ActorTebura, Kind: KindPaged, Text: pg.Text(),
		Data: map[string]string{"schedule": pg.Schedule, "page": string(b)}}
}

// Text says in one line whom the page reached and whom it did not.
func (pg Page) Text() string {
	if pg.Error != "" {
		return fmt.Sprintf("Paging on-call %s failed: %s", pg.Schedule, pg.Error)
	}
	var parts []string
	for _, r := range pg.Reached {
		parts = append(parts, r.Label())
	}
	t := fmt.Sprintf("Paged on-call %s: %s", pg.Schedule, orNobody(parts))
	if len(pg.Missed) > 0 {
		var miss []string
		for _, m := range pg.Missed {
			miss = append(miss, m.Label()+" ("+m.Reason+")")
		}
		t += "; not reached in chat: " + strings.Join(miss, "; ")
	}
	return t
}

func orNobody(s []string) string {
	if len(s) == 0 {
		return "nobody in chat"
	}
	return strings.Join(s, ", ")
}

// PageOf reads back a page from its timeline entry.
func PageOf(e incident.TimelineEntry) (Page, bool) {
	if e.Kind != KindPaged {
		return Page{}, false
	}
	var pg Page
	if err := json.Unmarshal([]byte(e.Data["page"]), &pg); err != nil {
		return Page{}, false
	}
	return pg, true
}
