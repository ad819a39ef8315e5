package bot

// Message is the small document model every adapter renders. It says what to
// show, not how: Slack renders Block Kit, Discord embeds and components, the
// console plain text.
type Message struct {
	// Header is a one-line title ("restart-api — running").
	Header string `json:"header,omitempty"`
	// Level colours the message where the platform can (embed colour, emoji).
	Level Level `json:"level,omitempty"`
	// Text holds paragraphs of lightly formatted text (*bold*, `code`).
	// Text from outside (labels, annotations, params, output) goes in
	// through Verbatim, so that no renderer reads formatting, mentions or
	// links in it. Header, Fields, Code and labels are verbatim already.
	Text []string `json:"text,omitempty"`
	// Fields are key/value pairs shown compactly.
	Fields []Field `json:"fields,omitempty"`
	// Code is a preformatted block such as a log tail or a rendered plan.
	Code *Code `json:"code,omitempty"`
	// Context is a small grey line at the bottom (who, when, run ID),
	// formatted like Text.
	Context string `json:"context,omitempty"`
	// Links are labelled URLs.
	Links []Link `json:"links,omitempty"`
	// Buttons are actions; each carries only an opaque callback ID.
	Buttons []Button `json:"buttons,omitempty"`
}

// Level is the tone of a message.
type Level string

// Levels.
const (
	LevelInfo    Level = "info"
	LevelSuccess Level = "success"
	LevelWarning Level = "warning"
	LevelDanger  Level = "danger"
)

// Field is one key/value pair.
type Field struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// Code is a preformatted block. When Tail is true the block is a log tail:
// trimming keeps the last lines and marks what was dropped at the top;
// otherwise trimming keeps the first lines and marks the end.
type Code struct {
	Title string `json:"title,omitempty"`
	Text  string `json:"text"`
	Tail  bool   `json:"tail,omitempty"`
}

// Link is a labelled URL.
type Link struct {
	Label string `json:"label"`
	URL   string `json:"url"`
}

// ButtonStyle is how prominent a button is.
type ButtonStyle string

// Button styles.
const (
	StyleDefault ButtonStyle = ""
	StylePrimary ButtonStyle = "primary"
	StyleDanger  ButtonStyle = "danger"
)

// Button is an action. ActionID is a constant naming the kind of action
// ("approve", "deny", "cancel", ...); CallbackID is an opaque server-side ID
// that the click handler resolves and re-checks.
type Button struct {
	Label      string      `json:"label"`
	Style      ButtonStyle `json:"style,omitempty"`
	ActionID   string      `json:"action_id"`
	CallbackID string      `json:"callback_id"`
}

// Limits are an adapter's size limits, in characters (runes) unless said
// otherwise. Zero means no limit.
type Limits struct {
	Header     int // header line
	Text       int // all paragraphs together
	FieldValue int // one field value
	Fields     int // number of fields
	Code       int // the code block's text
	Buttons    int // number of buttons
	ButtonText int // one button label
	Total      int // the whole rendered message, roughly
}
