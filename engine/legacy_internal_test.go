package engine

import (
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/build"
	"github.com/autobuild/autobuild/engine/config"
)

// Test-AutoBuild's counters and timestamp, as the configuration asks for
// them: seconds since the epoch (the run's start, or the time its sources
// are as of), or the newest revision number among the modules'.
func TestStampFor(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)  // 1767323045
	asOf := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC) // 1767139200
	revs := []string{"3f2a9c0e1b7d4a6f8e2c5b1a9d7e3f0c2b4a6d8e", "^/trunk@41", "src=^/lib/trunk@7 doc=^/doc@1210", "20260101T000000Z", "HEAD@abc"}
	tests := []struct {
		name            string
		counter, format string
		asOf            time.Time
		revs            []string
		want            build.Stamp
	}{
		{"defaults", config.CounterRun, config.TimestampRFC3339, time.Time{}, revs, build.Stamp{}},
		{"time", config.CounterTime, config.TimestampRFC3339, asOf, revs, build.Stamp{Counter: "1767323045"}},
		{"timestamp", config.CounterTimestamp, config.TimestampRFC3339, time.Time{}, revs, build.Stamp{Counter: "1767323045"}},
		{"timestamp as of", config.CounterTimestamp, config.TimestampRFC3339, asOf, revs, build.Stamp{Counter: "1767139200"}},
		{"changelist", config.CounterChangelist, config.TimestampRFC3339, time.Time{}, revs, build.Stamp{Counter: "1210"}},
		{"changelist of plain numbers", config.CounterChangelist, config.TimestampRFC3339, time.Time{}, []string{"12", "9"}, build.Stamp{Counter: "12"}},
		{"changelist without numbers", config.CounterChangelist, config.TimestampRFC3339, time.Time{}, revs[:1],
			build.Stamp{Note: "counter: changelist: no module's revision is a number, so AUTOBUILD_COUNTER is the run counter"}},
		{"epoch", config.CounterRun, config.TimestampEpoch, time.Time{}, nil, build.Stamp{Timestamp: "1767323045"}},
		{"epoch as of", config.CounterTime, config.TimestampEpoch, asOf, nil, build.Stamp{Counter: "1767323045", Timestamp: "1767139200"}},
	}
	for _, tt := range tests {
		if got := stampFor(tt.counter, tt.format, start, tt.asOf, tt.revs); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
