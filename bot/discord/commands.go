package discord

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bwmarrin/discordgo"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
)

// Neutral command roots (bot.Command.Name).
const (
	rootRunbook  = "runbook"
	rootIncident = "incident"
	rootTebura   = "tebura"
)

// roots maps the neutral roots to the names registered on Discord and back.
type roots struct {
	runbook, incident, tebura string
	neutral                   map[string]string // Discord name → neutral root
}

func newRoots(c config.BotCommands) roots {
	name := func(s, def string) string {
		s = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "/"))
		if s == "" {
			return def
		}
		return s
	}
	r := roots{
		runbook:  name(c.Runbook, rootRunbook),
		incident: name(c.Incident, rootIncident),
		tebura:   name(c.Tebura, rootTebura),
	}
	r.neutral = map[string]string{r.runbook: rootRunbook, r.incident: rootIncident, r.tebura: rootTebura}
	return r
}

// privateAnswers are the subcommands whose answer only the caller sees; they
// are deferred ephemeral (the ephemeral state cannot change after a type 5
// response). Everything else is deferred in public.
var privateAnswers = map[string]bool{
	rootTebura + " help":      true,
	rootTebura + " whoami":    true,
	rootTebura + " reload":    true,
	rootRunbook + " list":     true,
	rootRunbook + " describe": true,
	rootRunbook + " status":   true,
	rootRunbook + " logs":     true,
	rootIncident + " list":    true,
	rootIncident + " stats":   true,
}

func opt(t discordgo.ApplicationCommandOptionType, name, desc string, required bool) *discordgo.ApplicationCommandOption {
	return &discordgo.ApplicationCommandOption{Type: t, Name: name, Description: desc, Required: required}
}

func sub(name, desc string, options ...*discordgo.ApplicationCommandOption) *discordgo.ApplicationCommandOption {
	return &discordgo.ApplicationCommandOption{
		Type: discordgo.ApplicationCommandOptionSubCommand, Name: name, Description: desc, Options: options,
	}
}

func runbookName(desc string) *discordgo.ApplicationCommandOption {
	o := opt(discordgo.ApplicationCommandOptionString, "name", desc, true)
	o.Autocomplete = true
	o.MaxLength = 100
	return o
}

// commandDefinitions are the application commands Tebura registers. Their
// hash decides whether a start re-registers them.
// See https://discord.com/developers/docs/interactions/application-commands
func commandDefinitions(r roots) []*discordgo.ApplicationCommand {
	str := discordgo.ApplicationCommandOptionString
	dm := false
	minSev, maxSev := 1.0, 5.0
	sev := opt(discordgo.ApplicationCommandOptionInteger, "sev", "Severity, 1 (worst) to 5", false)
	sev.MinValue, sev.MaxValue = &minSev, maxSev
	return []*discordgo.ApplicationCommand{
		{
			Name: r.runbook, Description: "List, describe and run runbooks", DMPermission: &dm,
			Options: []*discordgo.ApplicationCommandOption{
				sub("list", "Runbooks you may run"),
				sub("describe", "Show a runbook's parameters and steps", runbookName("Runbook")),
				sub("run", "Run a runbook (remediation waits for approval)",
					runbookName("Runbook to run"),
					opt(str, "args", "Parameters as key=value pairs, e.g. env=prod service=api", false)),
				sub("status", "Show a run, or the recent runs", opt(str, "run", "Run ID, e.g. r42", false)),
				sub("cancel", "Cancel a run", opt(str, "run", "Run ID, e.g. r42", true)),
				sub("logs", "Attach a run's full log", opt(str, "run", "Run ID, e.g. r42", true)),
			},
		},
		{
			Name: r.incident, Description: "Declare and work incidents", DMPermission: &dm,
			Options: []*discordgo.ApplicationCommandOption{
				sub("declare", "Declare an incident", opt(str, "title", "What is wrong", true), sev),
				sub("ack", "Acknowledge this channel's incident"),
				sub("resolve", "Resolve this channel's incident", opt(str, "note", "Resolution note", false)),
				sub("status", "Show this channel's incident"),
				sub("note", "Add a note to the timeline", opt(str, "text", "The note", true)),
				sub("commander", "Set the incident commander", opt(discordgo.ApplicationCommandOptionUser, "user", "New commander", true)),
				sub("timeline", "Show the timeline"),
				sub("postmortem", "Draft the postmortem"),
				sub("list", "Open incidents"),
				sub("stats", "MTTA and MTTR"),
			},
		},
		{
			Name: r.tebura, Description: "About Tebura", DMPermission: &dm,
			Options: []*discordgo.ApplicationCommandOption{
				sub("help", "What you can do here"),
				sub("whoami", "Your identity and roles"),
				sub("reload", "Reload config, runbooks and access (admins)"),
				sub("login", "A private one-time link to the web view"),
			},
		},
	}
}

// commandsHash is a stable hash of the definitions.
func commandsHash(cmds []*discordgo.ApplicationCommand) string {
	b, _ := json.Marshal(cmds)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// metaKey is where the registration hash for one scope is kept.
func (a *Adapter) metaKey(guildID string) string {
	scope := "global"
	if guildID != "" {
		scope = "guild:" + guildID
	}
	return "discord.commands." + a.cfg.ApplicationID + "." + scope
}

// scopes are the guilds to register in; one empty scope means global.
func (a *Adapter) scopes() []string {
	if len(a.cfg.GuildIDs) == 0 {
		return []string{""}
	}
	return a.cfg.GuildIDs
}

// Register bulk-overwrites the application commands in every configured
// guild (instant) or globally, skipping a scope whose stored hash matches the
// current definitions. Run calls it; `tebura doctor` reports on it.
func (a *Adapter) Register(ctx context.Context) error {
	_, err := a.register(ctx)
	return err
}

// register is Register that also reports whether a failure is worth
// retrying: at least one scope failed for a transient reason (network
// error, timeout, 429, 5xx) rather than being refused.
func (a *Adapter) register(ctx context.Context) (retry bool, err error) {
	hash := commandsHash(a.commands)
	var errs []string
	for _, g := range a.scopes() {
		key := a.metaKey(g)
		if a.deps.Meta != nil {
			old, err := a.deps.Meta.GetMeta(ctx, key)
			if err != nil {
				a.logger.Warn("discord command hash unreadable", "err", err)
			} else if string(old) == hash {
				a.logger.Info("discord commands unchanged, registration skipped", "guild_id", g)
				continue
			}
		}
		if _, err := a.session.ApplicationCommandBulkOverwrite(a.cfg.ApplicationID, g, a.commands, discordgo.WithContext(ctx)); err != nil {
			if isStatus(err, 401) {
				return false, err
			}
			retry = retry || transient(err)
			errs = append(errs, fmt.Sprintf("guild %q: %v", g, scrub(err)))
			continue
		}
		a.logger.Info("discord commands registered", "guild_id", g, "commands", len(a.commands))
		if a.deps.Meta != nil {
			if err := a.deps.Meta.PutMeta(ctx, key, []byte(hash)); err != nil {
				a.logger.Warn("discord command hash not stored", "err", err)
			}
		}
	}
	if len(errs) > 0 {
		return retry, tebura.Wrap(tebura.ETRANSIENT, fmt.Errorf("%s", strings.Join(errs, "; ")),
			"Discord refused the command registration; check that the bot was invited with the applications.commands scope.")
	}
	return false, nil
}

// commandText turns a slash command's options into the neutral command
// text: "/runbook run name:restart-api args:env=prod" → "run restart-api
// env=prod". Free text options are quoted for commands.Tokenize; args is
// passed as typed, since it is itself a list of words.
func commandText(d discordgo.ApplicationCommandInteractionData) (subcommand, text string) {
	words := []string{}
	opts := d.Options
	if len(opts) == 1 && (opts[0].Type == discordgo.ApplicationCommandOptionSubCommand || opts[0].Type == discordgo.ApplicationCommandOptionSubCommandGroup) {
		subcommand = opts[0].Name
		words = append(words, subcommand)
		opts = opts[0].Options
	}
	var args string
	for _, o := range opts {
		switch o.Name {
		case "args":
			args = strings.TrimSpace(fmt.Sprint(o.Value))
		case "sev":
			words = append(words, "sev="+fmt.Sprint(o.Value))
		case "user":
			words = append(words, "<@"+fmt.Sprint(o.Value)+">")
		case "name", "run":
			words = append(words, quoteArg(fmt.Sprint(o.Value)))
		default:
			words = append(words, quoteArg(fmt.Sprint(o.Value)))
		}
	}
	// Keep the order of the grammar: positional words first, sev after.
	if subcommand == "declare" {
		var pos, kv []string
		for _, w := range words[1:] {
			if strings.HasPrefix(w, "sev=") {
				kv = append(kv, w)
			} else {
				pos = append(pos, w)
			}
		}
		words = append(append([]string{subcommand}, pos...), kv...)
	}
	if args != "" {
		words = append(words, args)
	}
	return subcommand, strings.Join(words, " ")
}

// quoteArg quotes s for commands.Tokenize when it holds spaces or quotes.
func quoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n\"'\u201c\u201d\u2018\u2019\\") {
		return s
	}
	s = strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
	return `"` + s + `"`
}
