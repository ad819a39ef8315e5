package runbooks

import (
	"fmt"
	"slices"
	"strings"
)

// Budgets of the per-target status, so that the step's line in the live
// message fits one chat field (Discord's 1024 characters, the smallest)
// whatever the number of targets and the length of their names.
const (
	// maxNamesShown is how many names one list shows at most.
	maxNamesShown = 10
	// maxNameChars is where one target name shown is cut.
	maxNameChars = 40
	// maxStatusNamesChars bounds the names part of a status line.
	maxStatusNamesChars = 600
)

// summary is the targets' status for the live message: counts of every
// state, then the names of the failed and of the running targets, which
// are the ones people act on: "47/50 ok, 1 failed, 2 running — failed:
// web-07; running: web-40, web-41". The names are bounded (each list to
// maxNamesShown, all to maxStatusNamesChars) and the rest counted as
// "+N more", so that 50 targets fit a chat field.
func (f *fanOut) summary() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := map[TargetState]int{}
	by := map[TargetState][]string{}
	for _, name := range f.names {
		s := f.states[name]
		n[s]++
		by[s] = append(by[s], name)
	}
	parts := []string{fmt.Sprintf("%d/%d ok", n[TargetOK], len(f.names))}
	for _, s := range []TargetState{TargetFailed, TargetRunning, TargetPending, TargetCancelled} {
		if n[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[s], s))
		}
	}
	counts := strings.Join(parts, ", ")
	if len(f.names) == 1 {
		return counts // the one target is named in the plan
	}
	var lists []string
	room := maxStatusNamesChars
	for _, s := range []TargetState{TargetFailed, TargetRunning} {
		if len(by[s]) == 0 || room <= 0 {
			continue
		}
		l := string(s) + ": " + namesWithin(by[s], maxNamesShown, room-len(s)-2)
		room -= len(l)
		lists = append(lists, l)
	}
	if len(lists) == 0 {
		return counts
	}
	return counts + " — " + strings.Join(lists, "; ")
}

// shortList is names joined, at most max of them, the others counted:
// "a, b, c +4 more".
func shortList(names []string, max int) string {
	return namesWithin(names, max, maxStatusNamesChars)
}

// namesWithin joins at most max names (each cut to maxNameChars) in at
// most room bytes, counting the others as "+N more".
func namesWithin(names []string, max, room int) string {
	names = slices.Clone(names)
	var b strings.Builder
	shown := 0
	for _, name := range names {
		if len(name) > maxNameChars {
			name = name[:maxNameChars] + "…"
		}
		sep := ""
		if shown > 0 {
			sep = ", "
		}
		// Keep room for " +NN more" after the last name shown.
		if shown == max || b.Len()+len(sep)+len(name)+len(" +99 more") > room {
			break
		}
		b.WriteString(sep + name)
		shown++
	}
	if rest := len(names) - shown; rest > 0 {
		if shown > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "+%d more", rest)
	}
	return b.String()
}
