package discordtest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"unicode/utf8"
)

// Limits the fake enforces, as Discord documents them.
// See https://discord.com/developers/docs/resources/message#embed-object-embed-limits
// and https://discord.com/developers/docs/components/reference
const (
	maxContent       = 2000
	maxEmbeds        = 10
	maxTitle         = 256
	maxDescription   = 4096
	maxFields        = 25
	maxFieldName     = 256
	maxFieldValue    = 1024
	maxFooter        = 2048
	maxEmbedTotal    = 6000
	maxRows          = 5
	maxButtonsPerRow = 5
	maxLabel         = 80
	maxCustomID      = 100
	maxUpload        = 8 << 20
	maxChannelName   = 100
	maxTopic         = 1024
	maxChoices       = 25
)

// Message is the body the fake accepts for a message (create, edit,
// follow-up, interaction response data).
type Message struct {
	Content    string      `json:"content,omitempty"`
	Embeds     []Embed     `json:"embeds,omitempty"`
	Components []Component `json:"components,omitempty"`
	Flags      int         `json:"flags,omitempty"`
}

// Embed is an embed as sent.
type Embed struct {
	Title       string  `json:"title,omitempty"`
	Description string  `json:"description,omitempty"`
	Color       int     `json:"color,omitempty"`
	Fields      []Field `json:"fields,omitempty"`
	Footer      *struct {
		Text string `json:"text"`
	} `json:"footer,omitempty"`
	Author *struct {
		Name string `json:"name"`
	} `json:"author,omitempty"`
}

// Field is an embed field.
type Field struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline,omitempty"`
}

// Component is an action row or a button.
type Component struct {
	Type       int         `json:"type"`
	Components []Component `json:"components,omitempty"`
	Label      string      `json:"label,omitempty"`
	Style      int         `json:"style,omitempty"`
	CustomID   string      `json:"custom_id,omitempty"`
	URL        string      `json:"url,omitempty"`
}

// Buttons returns the message's buttons in order.
func (m Message) Buttons() []Component {
	var out []Component
	for _, row := range m.Components {
		out = append(out, row.Components...)
	}
	return out
}

func n(s string) int { return utf8.RuneCountInString(s) }

// formErrors collects Discord's "Invalid Form Body" errors by JSON path.
type formErrors map[string]string

func (f formErrors) add(path, format string, args ...any) {
	f[path] = fmt.Sprintf(format, args...)
}

// validateMessage checks a message body against Discord's limits.
func validateMessage(raw json.RawMessage, files int) (Message, formErrors) {
	errs := formErrors{}
	var m Message
	if err := json.Unmarshal(raw, &m); err != nil {
		errs.add("_", "invalid JSON: %v", err)
		return m, errs
	}
	if n(m.Content) > maxContent {
		errs.add("content", "Must be %d or fewer in length.", maxContent)
	}
	if len(m.Embeds) > maxEmbeds {
		errs.add("embeds", "Must be %d or fewer in length.", maxEmbeds)
	}
	total := 0
	for i, e := range m.Embeds {
		p := fmt.Sprintf("embeds.%d.", i)
		if n(e.Title) > maxTitle {
			errs.add(p+"title", "Must be %d or fewer in length.", maxTitle)
		}
		if n(e.Description) > maxDescription {
			errs.add(p+"description", "Must be %d or fewer in length.", maxDescription)
		}
		if len(e.Fields) > maxFields {
			errs.add(p+"fields", "Must be %d or fewer in length.", maxFields)
		}
		total += n(e.Title) + n(e.Description)
		for j, f := range e.Fields {
			fp := fmt.Sprintf("%sfields.%d.", p, j)
			if f.Name == "" || n(f.Name) > maxFieldName {
				errs.add(fp+"name", "Must be between 1 and %d in length.", maxFieldName)
			}
			if f.Value == "" || n(f.Value) > maxFieldValue {
				errs.add(fp+"value", "Must be between 1 and %d in length.", maxFieldValue)
			}
			total += n(f.Name) + n(f.Value)
		}
		if e.Footer != nil {
			if n(e.Footer.Text) > maxFooter {
				errs.add(p+"footer.text", "Must be %d or fewer in length.", maxFooter)
			}
			total += n(e.Footer.Text)
		}
		if e.Author != nil {
			total += n(e.Author.Name)
		}
	}
	if total > maxEmbedTotal {
		errs.add("embeds", "Embed size exceeds maximum size of %d", maxEmbedTotal)
	}
	if len(m.Components) > maxRows {
		errs.add("components", "Must be %d or fewer in length.", maxRows)
	}
	ids := map[string]bool{}
	for i, row := range m.Components {
		p := fmt.Sprintf("components.%d.", i)
		if row.Type != 1 {
			errs.add(p+"type", "top-level components must be action rows (1)")
		}
		if len(row.Components) < 1 || len(row.Components) > maxButtonsPerRow {
			errs.add(p+"components", "Must be between 1 and %d in length.", maxButtonsPerRow)
		}
		for j, b := range row.Components {
			bp := fmt.Sprintf("%scomponents.%d.", p, j)
			if b.Type != 2 {
				errs.add(bp+"type", "only buttons are supported by the fake")
			}
			if n(b.Label) > maxLabel {
				errs.add(bp+"label", "Must be %d or fewer in length.", maxLabel)
			}
			if b.Style == 5 {
				if b.URL == "" || b.CustomID != "" {
					errs.add(bp+"url", "link buttons need a url and no custom_id")
				}
				continue
			}
			if b.CustomID == "" || n(b.CustomID) > maxCustomID {
				errs.add(bp+"custom_id", "Must be between 1 and %d in length.", maxCustomID)
			}
			if ids[b.CustomID] {
				errs.add(bp+"custom_id", "Component custom id cannot be duplicated")
			}
			ids[b.CustomID] = true
		}
	}
	if m.Content == "" && len(m.Embeds) == 0 && len(m.Components) == 0 && files == 0 {
		errs.add("_", "Cannot send an empty message")
	}
	return m, errs
}

var commandName = regexp.MustCompile(`^[-_\p{Ll}\p{N}]{1,32}$`)

// commandDef is the part of an application command the fake checks.
type commandDef struct {
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Options     []optionDef `json:"options,omitempty"`
}

type optionDef struct {
	Type        int         `json:"type"`
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Options     []optionDef `json:"options,omitempty"`
}

func validateOptions(errs formErrors, p string, opts []optionDef) {
	if len(opts) > 25 {
		errs.add(p+"options", "Must be 25 or fewer in length.")
	}
	for i, o := range opts {
		op := fmt.Sprintf("%soptions.%d.", p, i)
		if !commandName.MatchString(o.Name) {
			errs.add(op+"name", "Command name is invalid")
		}
		if d := n(o.Description); d < 1 || d > 100 {
			errs.add(op+"description", "Must be between 1 and 100 in length.")
		}
		validateOptions(errs, op, o.Options)
	}
}

// validateCommands checks application command definitions.
// See https://discord.com/developers/docs/interactions/application-commands
func validateCommands(cmds []commandDef) formErrors {
	errs := formErrors{}
	if len(cmds) > 100 {
		errs.add("_", "Must be 100 or fewer in length.")
	}
	for i, c := range cmds {
		p := fmt.Sprintf("%d.", i)
		if !commandName.MatchString(c.Name) {
			errs.add(p+"name", "Command name is invalid")
		}
		if d := n(c.Description); d < 1 || d > 100 {
			errs.add(p+"description", "Must be between 1 and 100 in length.")
		}
		validateOptions(errs, p, c.Options)
	}
	return errs
}

// Validate checks a message body (as sent to create message) against
// Discord's limits, the way the fake does, and returns the errors as one.
func Validate(body []byte) error {
	_, errs := validateMessage(body, 0)
	if len(errs) == 0 {
		return nil
	}
	b, _ := json.Marshal(errs)
	return fmt.Errorf("400 Invalid Form Body: %s", b)
}
