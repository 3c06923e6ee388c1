package publish

import (
	"time"

	"github.com/autobuild/autobuild/engine/report"
)

// The run history, as the site shows it (index.html's "Recent runs" and
// feed.atom): a run with no change at all is folded, with the unchanged
// runs next to it, into one row ("runs 12–40: no change"), so a history
// of hourly runs that rebuild nothing does not fill with them.

// historyRow is one row of the shown history: one run, or a streak of
// consecutive runs with no change.
type historyRow struct {
	// Summary is the run's; for a streak, the newest run's.
	report.Summary
	// Runs is how many runs with no change the row folds (0: the row is
	// one run that changed something); First and FirstStart are the
	// oldest of them.
	Runs       int
	First      int
	FirstStart time.Time
	// Page and FirstPage link the pages of the runs Counter and First,
	// when the site holds them (runs.go).
	Page, FirstPage string
}

// NoChange reports whether the row folds runs with no change.
func (r historyRow) NoChange() bool { return r.Runs > 0 }

// unchanged reports whether run h changed nothing since prev, the run
// before it (nil: not in the history): every module was reused, none
// failed or was skipped, and prev had as many modules and none failed.
// A run after a failed one is a change (its modules were fixed), and so
// is one with a module more or less.
func unchanged(h report.Summary, prev *report.Summary) bool {
	if h.Built != 0 || h.Failed != 0 || h.Skipped != 0 || h.Reused == 0 {
		return false
	}
	return prev == nil || (prev.OK() && prev.Built+prev.Reused == h.Reused)
}

// collapseHistory folds each streak of consecutive runs with no change
// in h (newest first) into one row. A streak that reaches the oldest run
// of h starts there: the history does not say what came before.
func collapseHistory(h []report.Summary) []historyRow {
	var rows []historyRow
	for i := 0; i < len(h); i++ {
		var prev *report.Summary
		if i+1 < len(h) {
			prev = &h[i+1]
		}
		if !unchanged(h[i], prev) {
			rows = append(rows, historyRow{Summary: h[i]})
			continue
		}
		row := historyRow{Summary: h[i], Runs: 1, First: h[i].Counter, FirstStart: h[i].Start}
		for i+1 < len(h) {
			var prev *report.Summary
			if i+2 < len(h) {
				prev = &h[i+2]
			}
			if !unchanged(h[i+1], prev) {
				break
			}
			i++
			row.Runs++
			row.First, row.FirstStart = h[i].Counter, h[i].Start
		}
		rows = append(rows, row)
	}
	return rows
}
