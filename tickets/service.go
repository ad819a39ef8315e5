package tickets

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/incident"
)

// Timeline entry kinds the Service writes. They are events people read
// ("Jira ticket OPS-7 created") and the Service's durable memory: on start
// it reads them back, so a restart repeats nothing that is on them.
const (
	KindCreated   = "ticket.created"
	KindCommented = "ticket.commented"
	KindResolved  = "ticket.resolved"
)

// Backfill is how long after its resolve an incident without a ticket
// still gets one: an incident resolved while Tebura was down (or while
// tickets were off) is ticketed when it comes back, but turning tickets on
// does not file a ticket for every incident of the past.
const Backfill = 24 * time.Hour

// scanLimit bounds the start-up scan: the newest incidents, which is where
// work left by the previous process is.
const scanLimit = 500

// Incidents is what the Service uses of the incident domain.
// *incident.Service implements it.
type Incidents interface {
	ByNumber(ctx context.Context, n int64) (*incident.Incident, error)
	List(ctx context.Context, opt incident.ListOptions) ([]*incident.Incident, error)
	Timeline(ctx context.Context, id string) ([]incident.TimelineEntry, error)
	AddTimeline(ctx context.Context, id string, e incident.TimelineEntry) error
}

// Deps are what the Service is built from.
type Deps struct {
	System    System
	Incidents Incidents
	// Postmortem renders an incident's Markdown postmortem, commented on
	// the ticket when the incident resolves.
	Postmortem func(ctx context.Context, id string) (string, error)
	// Bridge is the incident's call bridge, written into the ticket.
	Bridge func(inc *incident.Incident) string
	// Refresh redraws the incident's card when its ticket changed.
	Refresh func(ctx context.Context, n int64)
	// RetryMin and RetryMax bound the wait between attempts: it doubles
	// from RetryMin to RetryMax (defaults 5s and 5m); a Retry-After longer
	// than the wait is honoured.
	RetryMin, RetryMax time.Duration
	// Interval is how often open incidents are looked at again, so that a
	// ticket is filed even when the card cannot be drawn (default 1m).
	Interval time.Duration
	// Timeout bounds one call to the system (default 10s).
	Timeout time.Duration
	// Clock and Sleep are the time source; tests pass a virtual clock.
	Clock  func() time.Time
	Sleep  func(ctx context.Context, d time.Duration) error
	Logger *slog.Logger
	// Observe, when set, is told every attempt: step is create, comment
	// or resolve; outcome is done or failed (metrics).
	Observe func(step, outcome string)
}

// Service files and resolves the tickets of incidents in the background.
// Run starts it; View tells the card where the ticket stands and wakes the
// Service for an incident it has not seen.
type Service struct {
	d Deps

	mu      sync.Mutex
	records map[int64]*record
	life    context.Context // nil until Run
	workers sync.WaitGroup
}

// record is what the Service knows of one incident's ticket.
type record struct {
	ticket    Ticket // Key "" until created
	commented bool
	resolved  bool
	skipped   bool   // resolved long ago without a ticket: never filed
	failure   string // the last attempt's error, for the card; "" after a success
	busy      bool   // a worker is on it
}

// View is where an incident's ticket stands, for its card.
type View struct {
	// System is the ticketing system's name ("Jira").
	System string
	// Ticket is the ticket; Key is "" while it is pending.
	Ticket Ticket
	// Pending: the ticket is not created yet (being retried).
	Pending bool
	// Failure is why the last attempt failed, while pending.
	Failure string
	// None: this incident gets no ticket (it resolved before tickets
	// existed for it; see Backfill).
	None bool
}

// New returns a Service; Run starts its work.
func New(d Deps) (*Service, error) {
	if d.System == nil || d.Incidents == nil {
		return nil, tebura.Errorf(tebura.EINVALID, "Tickets need a ticketing system and the incident service.")
	}
	if d.RetryMin <= 0 {
		d.RetryMin = 5 * time.Second
	}
	if d.RetryMax < d.RetryMin {
		d.RetryMax = max(5*time.Minute, d.RetryMin)
	}
	if d.Interval <= 0 {
		d.Interval = time.Minute
	}
	if d.Timeout <= 0 {
		d.Timeout = 10 * time.Second
	}
	if d.Clock == nil {
		d.Clock = time.Now
	}
	if d.Sleep == nil {
		d.Sleep = sleep
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Refresh == nil {
		d.Refresh = func(context.Context, int64) {}
	}
	if d.Observe == nil {
		d.Observe = func(string, string) {}
	}
	return &Service{d: d, records: map[int64]*record{}}, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Start starts the work that ends with ctx: it looks at the newest
// incidents (work a previous process left: a ticket pending, a resolve
// not yet passed on) and starts a worker for each that needs one, and from
// then on View starts workers too. It returns once the workers are
// started; Wait waits for them.
func (s *Service) Start(ctx context.Context) {
	s.mu.Lock()
	s.life = ctx
	s.mu.Unlock()
	s.scan(ctx, incident.ListOptions{Limit: scanLimit})
}

// Run is Start, then a look at the open incidents every Interval (so that
// an incident whose card cannot be drawn still gets its ticket). It
// returns when ctx ends and every worker stopped.
func (s *Service) Run(ctx context.Context) {
	s.Start(ctx)
	t := time.NewTicker(s.d.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.workers.Wait()
			return
		case <-t.C:
			s.scan(ctx, incident.ListOptions{OpenOnly: true})
			s.mu.Lock()
			var again []int64
			for n, r := range s.records {
				if r.failure != "" || (!r.busy && r.ticket.Key != "" && !r.resolved) {
					again = append(again, n)
				}
			}
			s.mu.Unlock()
			for _, n := range again {
				s.wake(ctx, n)
			}
		}
	}
}

// Pending is how many incidents this process knows of whose ticket is not
// created yet (metrics).
func (s *Service) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.records {
		if r.ticket.Key == "" && !r.skipped {
			n++
		}
	}
	return n
}

// Wait waits for the workers started so far (tests).
func (s *Service) Wait() { s.workers.Wait() }

func (s *Service) scan(ctx context.Context, opt incident.ListOptions) {
	incs, err := s.d.Incidents.List(ctx, opt)
	if err != nil {
		s.d.Logger.Error("tickets: incidents not listed", "err", err)
		return
	}
	for _, inc := range incs {
		if !inc.Status.Open() && s.d.Clock().Sub(inc.ResolvedAt) > Backfill {
			continue
		}
		if _, err := s.load(ctx, inc); err != nil {
			s.d.Logger.Error("tickets: timeline not read", "incident", inc.Number, "err", err)
			continue
		}
		s.wake(ctx, inc.Number)
	}
}

// View says where inc's ticket stands and, when there is work to do for it
// (a ticket to create, a resolve to pass on), wakes the Service. It reads
// the timeline once per incident and process, and never calls the
// ticketing system: the card is drawn under the incident's lock.
func (s *Service) View(ctx context.Context, inc *incident.Incident) View {
	v := View{System: s.d.System.Name()}
	r, err := s.load(ctx, inc)
	if err != nil {
		v.Pending = true
		return v
	}
	s.mu.Lock()
	v.Ticket, v.Failure, v.None = r.ticket, r.failure, r.skipped
	v.Pending = r.ticket.Key == "" && !r.skipped
	life := s.life
	s.mu.Unlock()
	if life != nil {
		s.wake(life, inc.Number)
	}
	return v
}

// load returns inc's record, reading it from the timeline the first time.
func (s *Service) load(ctx context.Context, inc *incident.Incident) (*record, error) {
	s.mu.Lock()
	r := s.records[inc.Number]
	s.mu.Unlock()
	if r != nil {
		return r, nil
	}
	tl, err := s.d.Incidents.Timeline(ctx, inc.ID)
	if err != nil {
		return nil, err
	}
	r = &record{}
	for _, e := range tl {
		switch e.Kind {
		case KindCreated:
			r.ticket = Ticket{Key: e.Data["key"], ID: e.Data["id"], URL: e.Data["url"]}
		case KindCommented:
			r.commented = true
		case KindResolved:
			r.resolved = true
		}
	}
	if r.ticket.Key == "" && !inc.Status.Open() && s.d.Clock().Sub(inc.ResolvedAt) > Backfill {
		r.skipped = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if have := s.records[inc.Number]; have != nil {
		return have, nil
	}
	s.records[inc.Number] = r
	return r, nil
}

// wake starts a worker for incident n unless one is on it or nothing is
// left to do.
func (s *Service) wake(ctx context.Context, n int64) {
	if ctx.Err() != nil {
		return // stopping: the next start picks it up
	}
	s.mu.Lock()
	r := s.records[n]
	if r == nil || r.busy || r.skipped || r.resolved {
		s.mu.Unlock()
		return
	}
	r.busy = true
	s.workers.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.workers.Done()
		s.work(ctx, n, r)
	}()
}

// work does what incident n's ticket needs, retrying failures with
// backoff, until nothing is left to do for now (an open incident with its
// ticket) or ctx ends.
func (s *Service) work(ctx context.Context, n int64, r *record) {
	defer func() {
		s.mu.Lock()
		r.busy = false
		s.mu.Unlock()
	}()
	wait := s.d.RetryMin
	for ctx.Err() == nil {
		inc, err := s.d.Incidents.ByNumber(ctx, n)
		if err != nil {
			s.d.Logger.Error("tickets: incident not read", "incident", n, "err", err)
			return
		}
		what, err := s.step(ctx, inc, r)
		did := what != ""
		if did {
			s.d.Observe(what, outcome(err))
		}
		if err == nil {
			s.mu.Lock()
			changed := r.failure != ""
			r.failure = ""
			s.mu.Unlock()
			if did || changed {
				s.d.Refresh(ctx, n)
			}
			if !did {
				return
			}
			wait = s.d.RetryMin
			continue
		}
		if ctx.Err() != nil {
			return
		}
		d := wait
		if ra, ok := RetryAfter(err); ok && ra > d {
			d = ra
		}
		wait = min(wait*2, s.d.RetryMax)
		s.d.Logger.Warn("tickets: attempt failed", "incident", n, "system", s.d.System.Name(), "retry_in", d, "err", err)
		msg := tebura.ErrorMessage(err)
		s.mu.Lock()
		changed := r.failure != msg
		r.failure = msg
		s.mu.Unlock()
		if changed {
			s.d.Refresh(ctx, n)
		}
		if s.d.Sleep(ctx, d) != nil {
			return
		}
	}
}

// Steps of a ticket, as step and Observe name them.
const (
	StepCreate  = "create"
	StepComment = "comment"
	StepResolve = "resolve"
)

func outcome(err error) string {
	if err != nil {
		return "failed"
	}
	return "done"
}

// step does the next thing inc's ticket needs: create it, comment the
// postmortem, resolve it, and says which it tried ("" when nothing is left
// for now).
func (s *Service) step(ctx context.Context, inc *incident.Incident, r *record) (what string, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.d.Timeout)
	defer cancel()
	s.mu.Lock()
	t, commented, resolved := r.ticket, r.commented, r.resolved
	s.mu.Unlock()
	name := s.d.System.Name()
	switch {
	case t.Key == "":
		marker := Marker(inc)
		// An earlier attempt (this process's or a previous one's) may have
		// created the ticket and lost the answer: look before creating.
		found, ok, err := s.d.System.Find(ctx, marker)
		if err != nil {
			return StepCreate, err
		}
		if !ok {
			if found, err = s.d.System.Create(ctx, s.request(inc, marker)); err != nil {
				return StepCreate, err
			}
		}
		if err := s.d.Incidents.AddTimeline(ctx, inc.ID, incident.TimelineEntry{Actor: incident.ActorTebura, Kind: KindCreated,
			Text: name + " ticket " + found.Key + " created",
			Data: map[string]string{"system": name, "key": found.Key, "id": found.ID, "url": found.URL, "marker": marker}}); err != nil {
			// Not remembered: the next attempt finds it by its marker.
			return StepCreate, err
		}
		s.mu.Lock()
		r.ticket = found
		s.mu.Unlock()
		s.d.Logger.Info("tickets: ticket created", "incident", inc.Number, "system", name, "ticket", found.Key)
		return StepCreate, nil
	case inc.Status.Open():
		return "", nil
	case !commented:
		text := ""
		if s.d.Postmortem != nil {
			if text, err = s.d.Postmortem(ctx, inc.ID); err != nil {
				return StepComment, err
			}
		}
		if err := s.d.System.Comment(ctx, t, text); err != nil {
			return StepComment, err
		}
		if err := s.d.Incidents.AddTimeline(ctx, inc.ID, incident.TimelineEntry{Actor: incident.ActorTebura, Kind: KindCommented,
			Text: "Postmortem draft added to " + name + " ticket " + t.Key, Data: map[string]string{"system": name, "key": t.Key}}); err != nil {
			return StepComment, err
		}
		s.mu.Lock()
		r.commented = true
		s.mu.Unlock()
		return StepComment, nil
	case !resolved:
		if err := s.d.System.Resolve(ctx, t, s.resolution(ctx, inc)); err != nil {
			return StepResolve, err
		}
		if err := s.d.Incidents.AddTimeline(ctx, inc.ID, incident.TimelineEntry{Actor: incident.ActorTebura, Kind: KindResolved,
			Text: name + " ticket " + t.Key + " resolved", Data: map[string]string{"system": name, "key": t.Key}}); err != nil {
			return StepResolve, err
		}
		s.mu.Lock()
		r.resolved = true
		s.mu.Unlock()
		s.d.Logger.Info("tickets: ticket resolved", "incident", inc.Number, "system", name, "ticket", t.Key)
		return StepResolve, nil
	}
	return "", nil
}

func (s *Service) request(inc *incident.Incident, marker string) Request {
	req := Request{Marker: marker, Incident: inc.Ref(), Title: inc.Title, Severity: inc.Severity, Labels: inc.Labels,
		Summary: inc.Annotations["summary"], ChannelURL: inc.Channel.URL, Opened: inc.StartedAt}
	if inc.Channel.Name != "" {
		req.Channel = "#" + inc.Channel.Name
	}
	if s.d.Bridge != nil {
		req.Bridge = s.d.Bridge(inc)
	}
	return req
}

// resolution is what the ticket is closed with: who resolved the incident
// and with what note (the timeline's last resolve entry), when, and after
// how long.
func (s *Service) resolution(ctx context.Context, inc *incident.Incident) Resolution {
	notes := "Incident " + inc.Ref() + " resolved"
	if inc.ResolvedBy != "" {
		notes += " by " + inc.ResolvedBy
	}
	if tl, err := s.d.Incidents.Timeline(ctx, inc.ID); err == nil {
		for _, e := range slices.Backward(tl) {
			if e.Kind == incident.KindResolved {
				if _, note, ok := strings.Cut(e.Text, ": "); ok {
					notes += " (" + note + ")"
				}
				break
			}
		}
	}
	if !inc.ResolvedAt.IsZero() {
		notes += " at " + inc.ResolvedAt.UTC().Format(time.RFC3339)
	}
	if d, ok := inc.MTTR(); ok {
		notes += " after " + d.Round(time.Second).String()
	}
	return Resolution{Incident: inc.Ref(), ResolvedBy: inc.ResolvedBy, Notes: notes + ". The postmortem draft is in the work notes / comments."}
}
