package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseTimestamp(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time
		err  string
	}{
		{in: "2009-03-01T12:00:00Z", want: time.Date(2009, 3, 1, 12, 0, 0, 0, time.UTC)},
		{in: "2009-03-01T13:00:00+01:00", want: time.Date(2009, 3, 1, 12, 0, 0, 0, time.UTC)},
		{in: "2009-03-01 12:00:00", want: time.Date(2009, 3, 1, 12, 0, 0, 0, time.UTC)},
		{in: "2009-03-01 12:00", want: time.Date(2009, 3, 1, 12, 0, 0, 0, time.UTC)},
		{in: " 2009-03-01 ", want: time.Date(2009, 3, 1, 0, 0, 0, 0, time.UTC)},
		{in: "@1235908800", want: time.Date(2009, 3, 1, 12, 0, 0, 0, time.UTC)},
		{in: "2026-11-26T12:00:30Z", want: now.Add(30 * time.Second)},
		{in: "yesterday", err: "not a time"},
		{in: "2009-13-01", err: "not a time"},
		{in: "@-5", err: "seconds since the epoch"},
		{in: "@12x", err: "seconds since the epoch"},
		{in: "1969-12-31", err: "before 1970"},
		{in: "2027-01-01", err: "in the future"},
	} {
		got, err := ParseTimestamp(c.in, now)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseTimestamp(%q) = %v, %v; want an error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || !got.Equal(c.want) || got.Location() != time.UTC {
			t.Errorf("ParseTimestamp(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

func TestTimestampSetting(t *testing.T) {
	cfg, err := Load(write(t, "timestamp: \"2009-03-01 12:00\"\n"+good))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2009, 3, 1, 12, 0, 0, 0, time.UTC); !cfg.AsOf.Equal(want) {
		t.Errorf("AsOf = %v, want %v", cfg.AsOf, want)
	}
	for _, v := range []string{"2009-03-01", "2009-03-01T00:00:00Z", `"@1235865600"`} {
		cfg, err := Load(write(t, "timestamp: "+v+"\n"+good))
		if err != nil {
			t.Errorf("timestamp: %s (as written): %v", v, err)
		} else if !cfg.AsOf.Equal(time.Date(2009, 3, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("timestamp: %s (as written) = %v", v, cfg.AsOf)
		}
	}
	_, err = Load(write(t, "timestamp: soon\n"+good))
	if err == nil || !strings.Contains(err.Error(), "timestamp") || !strings.Contains(err.Error(), "not a time") || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("timestamp: soon: %v; want the file, line, key and problem", err)
	}
}
