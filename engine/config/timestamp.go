package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// timestampLayouts are the forms ParseTimestamp accepts besides
// "@<epoch seconds>"; those without a zone are UTC.
var timestampLayouts = []string{
	time.RFC3339,
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04Z07:00",
	"2006-01-02 15:04",
	"2006-01-02",
}

// ParseTimestamp reads the time a run builds its sources as of (the
// timestamp setting, run --timestamp): RFC 3339 ("2009-03-01T12:00:00Z",
// "2009-03-01T13:00:00+01:00"), a date and time without a zone, taken as
// UTC ("2009-03-01 12:00:00", "2009-03-01 12:00"), a date alone (its
// start, UTC), or "@" and seconds since the epoch ("@1235908800", as
// Test-AutoBuild's counters give). A time after now is refused: the
// sources of the future are not known yet.
func ParseTimestamp(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	var t time.Time
	if rest, ok := strings.CutPrefix(s, "@"); ok {
		n, err := strconv.ParseInt(rest, 10, 64)
		if err != nil || n < 0 {
			return time.Time{}, fmt.Errorf("%q is not @ and seconds since the epoch", s)
		}
		t = time.Unix(n, 0)
	} else {
		var err error
		for _, layout := range timestampLayouts {
			if t, err = time.Parse(layout, s); err == nil {
				break
			}
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not a time: write 2009-03-01T12:00:00Z, 2009-03-01 12:00:00 (UTC), 2009-03-01 or @1235908800", s)
		}
	}
	if t.Year() < 1970 {
		return time.Time{}, fmt.Errorf("%q is before 1970", s)
	}
	if t.After(now.Add(time.Minute)) {
		return time.Time{}, fmt.Errorf("%s is in the future", t.UTC().Format(time.RFC3339))
	}
	return t.UTC(), nil
}
