package discord

import "time"

// Message and embed limits, in characters. Discord answers 400 (code 50035,
// "Invalid Form Body") when one is exceeded, so the renderer clamps to them
// with a visible marker instead.
// See https://discord.com/developers/docs/resources/message#create-message
// and https://discord.com/developers/docs/resources/message#embed-object-embed-limits
const (
	MaxContent          = 2000 // message content
	MaxEmbeds           = 10   // embeds per message
	MaxEmbedTitle       = 256  // embed title
	MaxEmbedDescription = 4096 // embed description
	MaxEmbedFields      = 25   // fields per embed
	MaxFieldName        = 256  // embed field name
	MaxFieldValue       = 1024 // embed field value
	MaxFooter           = 2048 // embed footer text
	MaxEmbedTotal       = 6000 // title+description+field names/values+footer+author, across all embeds
)

// Component limits for messages without the IS_COMPONENTS_V2 flag.
// See https://discord.com/developers/docs/components/reference
const (
	MaxButtonsPerRow = 5   // buttons in one action row
	MaxActionRows    = 5   // top-level action rows in a legacy message
	MaxButtonLabel   = 80  // button label
	MaxCustomID      = 100 // custom_id, 1–100 characters, unique within the message
)

// MaxUpload is the attachment size the adapter stays under. Discord caps a
// whole request at 25 MiB and each attachment by the guild's boost level; 8
// MiB is the historical floor every guild allows, so a full log is
// truncated with a marker above it.
// See https://discord.com/developers/docs/resources/message#embed-object-embed-limits
// and https://discord.com/developers/docs/reference#uploading-files
const MaxUpload = 8 << 20

// MaxTopic is the channel topic limit.
// See https://discord.com/developers/docs/resources/guild#create-guild-channel
const MaxTopic = 1024

// MaxChannelName is the channel name limit (1–100 characters).
// See https://discord.com/developers/docs/resources/guild#create-guild-channel
const MaxChannelName = 100

// MaxAutocompleteChoices is how many choices an autocomplete answer may hold,
// each at most 100 characters.
// See https://discord.com/developers/docs/interactions/application-commands#application-command-object-application-command-option-structure
const (
	MaxAutocompleteChoices = 25
	MaxChoiceLength        = 100
)

// AckDeadline is how long Discord waits for the initial interaction
// response; after it the token is invalid (10062 Unknown interaction).
// See https://discord.com/developers/docs/interactions/receiving-and-responding
const AckDeadline = 3 * time.Second

// TokenLifetime is how long an interaction token accepts follow-ups and
// edits of the original response.
// See https://discord.com/developers/docs/interactions/receiving-and-responding
const TokenLifetime = 15 * time.Minute

// SignatureMaxAge is how old an HTTP interaction's X-Signature-Timestamp may
// be. Discord documents no replay window, so the adapter refuses anything
// older than five minutes, as the Slack SDKs do.
// See https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers
const SignatureMaxAge = 5 * time.Minute

// Invalid requests (401, 403, 429 other than scope "shared") are limited to
// 10,000 per 10 minutes per IP before a temporary Cloudflare ban. The
// adapter pauses REST calls long before that.
// See https://discord.com/developers/docs/topics/rate-limits#invalid-request-limit-aka-cloudflare-bans
const (
	InvalidRequestWindow = 10 * time.Minute
	InvalidRequestBan    = 10000
	InvalidRequestPause  = 1000
)
