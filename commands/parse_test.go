package commands

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
)

func TestTokenize(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"spaces only", "  \t ", nil},
		{"words", "run restart-api env=prod", []string{"run", "restart-api", "env=prod"}},
		{"many spaces and tabs", "  run\t\trestart-api   ", []string{"run", "restart-api"}},
		{"non-breaking space separates", "run\u00a0x", []string{"run", "x"}},
		{"double quotes", `msg="a b"`, []string{"msg=a b"}},
		{"quoted whole pair", `"msg=a b"`, []string{"msg=a b"}},
		{"single quotes", `msg='a  b'`, []string{"msg=a  b"}},
		{"single quotes keep backslash and double quote", `'a\"b'`, []string{`a\"b`}},
		{"escaped quote in double quotes", `"say \"hi\""`, []string{`say "hi"`}},
		{"escaped backslash in double quotes", `"a\\b"`, []string{`a\b`}},
		{"other backslash kept in double quotes", `"a\nb"`, []string{`a\nb`}},
		{"backslash outside quotes is literal", `a\ b`, []string{`a\`, "b"}},
		{"typographic double quotes", "msg=“hello world”", []string{"msg=hello world"}},
		{"typographic double closes on either", "msg=”hello world”", []string{"msg=hello world"}},
		{"typographic single quotes", "msg=‘hello world’", []string{"msg=hello world"}},
		{"typographic apostrophe is literal", "msg=don’t stop", []string{"msg=don’t", "stop"}},
		{"straight quote inside typographic", "“it's fine”", []string{"it's fine"}},
		{"empty quoted value", `msg=""`, []string{"msg="}},
		{"empty token", `''`, []string{""}},
		{"empty value unquoted", "msg=", []string{"msg="}},
		{"equals inside value", "q=a=b==c", []string{"q=a=b==c"}},
		{"nothing expanded", "x=$HOME y=`id` z=~ w=* v=$(rm -rf /)", []string{"x=$HOME", "y=`id`", "z=~", "w=*", "v=$(rm", "-rf", "/)"}},
		{"adjacent quoted parts join", `a"b c"'d e'f`, []string{"ab cd ef"}},
		{"unicode words", "名前=値 ✓", []string{"名前=値", "✓"}},
		{"newline separates", "a\nb", []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Tokenize(tt.in)
			if err != nil {
				t.Fatalf("Tokenize(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Tokenize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTokenizeUnterminated(t *testing.T) {
	tests := []struct{ in, mention string }{
		{`msg="a b`, `"`},
		{`msg='a b`, `'`},
		{"msg=“a b", "”"},
		{"msg=‘a b", "’"},
		{`"a\"`, `"`},
		{`"a\`, `"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := Tokenize(tt.in)
			if tebura.ErrorCode(err) != tebura.EINVALID {
				t.Fatalf("Tokenize(%q) error = %v, want EINVALID", tt.in, err)
			}
			msg := tebura.ErrorMessage(err)
			if !strings.Contains(msg, "never closed") || !strings.Contains(msg, "closing "+tt.mention) {
				t.Errorf("message %q should say the quote is never closed and name the closing %s", msg, tt.mention)
			}
		})
	}
}

func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", "a b", "it's", `say "hi" it's`, `back\slash it's`, "“x”", "‘", "’", "tab\there", "a=b c"} {
		q := Quote(s)
		got, err := Tokenize(q)
		if err != nil || len(got) != 1 || got[0] != s {
			t.Errorf("Tokenize(Quote(%q)) = %q, %v; want one token %q (quoted as %s)", s, got, err, s, q)
		}
	}
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    map[string]string
		wantErr string
	}{
		{"none", nil, map[string]string{}, ""},
		{"pairs", []string{"env=prod", "service=api"}, map[string]string{"env": "prod", "service": "api"}, ""},
		{"empty value", []string{"msg="}, map[string]string{"msg": ""}, ""},
		{"equals in value", []string{"q=a=b"}, map[string]string{"q": "a=b"}, ""},
		{"spaces in value", []string{"msg=a b"}, map[string]string{"msg": "a b"}, ""},
		{"no equals", []string{"prod"}, nil, "Parameters are written name=value"},
		{"empty key", []string{"=prod"}, nil, "not a valid parameter name"},
		{"bad key", []string{"e$v=prod"}, nil, "not a valid parameter name"},
		{"duplicate", []string{"env=prod", "env=staging"}, nil, "given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseArgs(tt.in)
			if tt.wantErr != "" {
				if tebura.ErrorCode(err) != tebura.EINVALID || !strings.Contains(tebura.ErrorMessage(err), tt.wantErr) {
					t.Fatalf("ParseArgs(%q) error = %v, want EINVALID containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseArgs(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	names := NamesOf(config.BotCommands{})
	books := []string{"restart-api", "disk-usage"}
	tests := []struct {
		name, root, text string
		want             Request
	}{
		{"bare runbook lists", "runbook", "", Request{Root: RootRunbook, Verb: VerbList}},
		{"list", "runbook", "list", Request{Root: RootRunbook, Verb: VerbList}},
		{"describe", "runbook", "describe restart-api", Request{Root: RootRunbook, Verb: VerbDescribe, Name: "restart-api"}},
		{"run", "runbook", `run restart-api env=prod msg="a b" note=`, Request{Root: RootRunbook, Verb: VerbRun, Name: "restart-api",
			Args: map[string]string{"env": "prod", "msg": "a b", "note": ""}}},
		{"run with typographic quotes", "runbook", "run restart-api msg=“rolling restart” q=‘x=y’", Request{Root: RootRunbook, Verb: VerbRun, Name: "restart-api",
			Args: map[string]string{"msg": "rolling restart", "q": "x=y"}}},
		{"implicit run", "runbook", "restart-api env=prod", Request{Root: RootRunbook, Verb: VerbRun, Name: "restart-api", Implicit: true,
			Args: map[string]string{"env": "prod"}}},
		{"run unknown name is left to the handler", "runbook", "run nope", Request{Root: RootRunbook, Verb: VerbRun, Name: "nope", Args: map[string]string{}}},
		{"status all", "runbook", "status", Request{Root: RootRunbook, Verb: VerbStatus}},
		{"status one", "runbook", "status r4", Request{Root: RootRunbook, Verb: VerbStatus, Run: "r4"}},
		{"cancel", "runbook", "cancel r4", Request{Root: RootRunbook, Verb: VerbCancel, Run: "r4"}},
		{"logs", "runbook", "logs r4", Request{Root: RootRunbook, Verb: VerbLogs, Run: "r4"}},
		{"slash root", "/runbook", "list", Request{Root: RootRunbook, Verb: VerbList}},
		{"help", "tebura", "help", Request{Root: RootTebura, Verb: VerbHelp}},
		{"bare tebura is help", "tebura", "", Request{Root: RootTebura, Verb: VerbHelp}},
		{"whoami", "tebura", "whoami", Request{Root: RootTebura, Verb: VerbWhoami}},
		{"reload", "tebura", "reload", Request{Root: RootTebura, Verb: VerbReload}},
		{"incident words", "incident", `declare "db down" sev=1`, Request{Root: RootIncident}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := names.Parse(tt.root, tt.text, books)
			if err != nil {
				t.Fatalf("Parse(%q, %q): %v", tt.root, tt.text, err)
			}
			got.Words = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(%q, %q) = %+v, want %+v", tt.root, tt.text, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	names := NamesOf(config.BotCommands{})
	books := []string{"restart-api", "disk-usage"}
	tests := []struct {
		name, root, text, want string
	}{
		{"typo of a verb", "runbook", "lsit",
			"There is no `/runbook lsit`. Did you mean `/runbook list`? Type `/tebura help` for everything you can do."},
		{"typo of a runbook", "runbook", "restart-ap env=prod",
			"There is no `/runbook restart-ap`. Did you mean `/runbook restart-api`? Type `/tebura help` for everything you can do."},
		{"nothing close", "runbook", "xyzzy",
			"There is no `/runbook xyzzy`. Type `/tebura help` for everything you can do."},
		{"tebura typo", "tebura", "hlep",
			"There is no `/tebura hlep`. Did you mean `/tebura help`? Type `/tebura help` for everything you can do."},
		{"describe without name", "runbook", "describe", "needs a runbook name"},
		{"describe too many", "runbook", "describe a b", "one word too many"},
		{"cancel without run", "runbook", "cancel", "needs a run ID"},
		{"run without name", "runbook", "run", "needs a runbook name"},
		{"list with argument", "runbook", "list all", "one word too many"},
		{"whoami with argument", "tebura", "whoami me", "takes no arguments"},
		{"reload with argument", "tebura", "reload now", "takes no arguments"},
		{"bad arg", "runbook", "run restart-api prod", "Parameters are written name=value"},
		{"unterminated", "runbook", `run restart-api msg="oops`, "never closed"},
		{"unknown root", "deploy", "x", "There is no command `/deploy`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := names.Parse(tt.root, tt.text, books)
			if tebura.ErrorCode(err) != tebura.EINVALID {
				t.Fatalf("Parse(%q, %q) error = %v, want EINVALID", tt.root, tt.text, err)
			}
			if msg := tebura.ErrorMessage(err); !strings.Contains(msg, tt.want) {
				t.Errorf("message = %q, want it to contain %q", msg, tt.want)
			}
		})
	}
}

func TestParseConfiguredRoots(t *testing.T) {
	names := NamesOf(config.BotCommands{Runbook: "/rb", Tebura: "tb"})
	req, err := names.Parse("rb", "list", nil)
	if err != nil || req.Root != RootRunbook || req.Verb != VerbList {
		t.Fatalf("Parse(rb list) = %+v, %v", req, err)
	}
	_, err = names.Parse("rb", "lsit", nil)
	want := "There is no `/rb lsit`. Did you mean `/rb list`? Type `/tb help` for everything you can do."
	if msg := tebura.ErrorMessage(err); msg != want {
		t.Errorf("message = %q, want %q", msg, want)
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct {
		word string
		cand []string
		want string
	}{
		{"lsit", []string{"list", "logs"}, "list"},
		{"stauts", []string{"status", "cancel"}, "status"},
		{"cancle", []string{"status", "cancel"}, "cancel"},
		{"LIST", []string{"list"}, "list"},
		{"completely-different", []string{"list"}, ""},
		{"x", nil, ""},
	}
	for _, tt := range tests {
		if got := Suggest(tt.word, tt.cand); got != tt.want {
			t.Errorf("Suggest(%q, %q) = %q, want %q", tt.word, tt.cand, got, tt.want)
		}
	}
}

func FuzzTokenize(f *testing.F) {
	for _, s := range []string{"run restart-api env=prod", `msg="a b"`, "“x y”", "‘a’b’", `"a\"b\\c"`, "'", `"`, "a\u00a0b", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tokens, err := Tokenize(s)
		if err != nil {
			if tebura.ErrorCode(err) != tebura.EINVALID {
				t.Fatalf("Tokenize(%q) error code %q, want EINVALID", s, tebura.ErrorCode(err))
			}
			return
		}
		quoted := make([]string, len(tokens))
		for i, tok := range tokens {
			quoted[i] = Quote(tok)
		}
		again, err := Tokenize(strings.Join(quoted, " "))
		if err != nil {
			t.Fatalf("re-tokenize of %q (from %q): %v", quoted, s, err)
		}
		if len(again) != len(tokens) || (len(tokens) > 0 && !reflect.DeepEqual(again, tokens)) {
			t.Fatalf("Tokenize(%q) = %q, but re-quoted and re-tokenized = %q", s, tokens, again)
		}
	})
}

func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{"env=prod service=api", `msg="a b" q=a=b e=`, "“msg=x y”", "prod", "=x", "a=1 a=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := Tokenize(s)
		if err != nil {
			return
		}
		args, err := ParseArgs(words)
		if err != nil {
			if tebura.ErrorCode(err) != tebura.EINVALID {
				t.Fatalf("ParseArgs(%q) error code %q, want EINVALID", words, tebura.ErrorCode(err))
			}
			return
		}
		if len(args) != len(words) {
			t.Fatalf("ParseArgs(%q) = %d pairs, want %d", words, len(args), len(words))
		}
		var line []string
		for k, v := range args {
			if !validKey(k) {
				t.Fatalf("ParseArgs(%q) accepted key %q", words, k)
			}
			line = append(line, Quote(k+"="+v))
		}
		again, err := Tokenize(strings.Join(line, " "))
		if err != nil {
			t.Fatalf("re-tokenize: %v", err)
		}
		back, err := ParseArgs(again)
		if err != nil || !reflect.DeepEqual(back, args) {
			t.Fatalf("round trip of %v gave %v, %v", args, back, err)
		}
	})
}
