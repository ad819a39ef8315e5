package main

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/source"
)

// TestDocsGenericSnippets: every configuration snippet of
// docs/sources/generic.md (a yaml block starting with "sources:") loads
// without problems and mounts, its templates compiled with the helpers the
// server gives them, so what users copy works.
func TestDocsGenericSnippets(t *testing.T) {
	cleanEnv(t)
	var blocks []string
	for _, b := range yamlBlocks(t, "docs/sources/generic.md") {
		if strings.HasPrefix(b, "sources:\n") {
			blocks = append(blocks, b)
		}
	}
	if len(blocks) < 6 {
		t.Fatalf("found %d configuration snippets, want the overview and one per preset", len(blocks))
	}
	for _, b := range blocks {
		for _, name := range regexp.MustCompile(`\$\{([A-Z_]+)\}`).FindAllStringSubmatch(b, -1) {
			t.Setenv(name[1], "value-of-"+strings.ToLower(name[1]))
		}
	}
	for i, b := range blocks {
		l, ps := config.Load(writeConfig(t, b), loadOptions())
		if len(ps) > 0 {
			t.Errorf("snippet %d: %v\n%s", i, ps, b)
			continue
		}
		ingest := func(context.Context, incident.Batch) error { return nil }
		paths, err := source.Mount(http.NewServeMux(), l.Config.Sources, ingest, nil)
		if err != nil || len(paths) == 0 {
			t.Errorf("snippet %d mounts %v: %v\n%s", i, paths, err, b)
		}
	}
}
