package state

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/autobuild/autobuild/engine/report"
)

func TestNextCounter(t *testing.T) {
	for _, tt := range []struct {
		name      string
		file      string // "" no file
		evidence  []int
		want      int
		recovered bool
		refused   bool
	}{
		{name: "first run", want: 1},
		{name: "next", file: "41\n", want: 42},
		{name: "next, evidence agrees", file: "41\n", evidence: []int{40, 41}, want: 42},
		{name: "garbage", file: "x7\n", evidence: []int{12, 3}, want: 13, recovered: true},
		{name: "garbage, no evidence", file: "\x00\x01", want: 1, recovered: true},
		{name: "negative", file: "-7\n", evidence: []int{9}, want: 10, recovered: true},
		{name: "reverted", file: "3\n", evidence: []int{8}, want: 9, recovered: true},
		{name: "missing, logs left", evidence: []int{5}, want: 6, recovered: true},
		{name: "maximum", file: strconv.Itoa(MaxCounter) + "\n", refused: true},
		{name: "int64 maximum", file: "9223372036854775807\n", refused: true},
		{name: "beyond int64", file: "99999999999999999999\n", refused: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.file != "" {
				os.WriteFile(filepath.Join(dir, "counter"), []byte(tt.file), 0o644)
			}
			n, recovered, err := NextCounter(dir, tt.evidence...)
			if tt.refused {
				var ce *CounterError
				if !errors.As(err, &ce) || ce.File != filepath.Join(dir, "counter") {
					t.Fatalf("NextCounter = %d, %v; want a CounterError naming the file", n, err)
				}
				if b, _ := os.ReadFile(filepath.Join(dir, "counter")); string(b) != tt.file {
					t.Errorf("a refused counter was rewritten: %q", b)
				}
				return
			}
			if err != nil || n != tt.want || (recovered != "") != tt.recovered {
				t.Fatalf("NextCounter = %d, %q, %v; want %d (recovered %v)", n, recovered, err, tt.want, tt.recovered)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "counter")); string(b) != strconv.Itoa(tt.want)+"\n" {
				t.Errorf("counter file holds %q", b)
			}
		})
	}
}

func TestRuns(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"3", "12", "x", "-2", "0", "99999999999"} {
		os.Mkdir(filepath.Join(dir, n), 0o755)
	}
	got := Runs(dir)
	if len(got) != 2 || got[0] != 3 || got[1] != 12 {
		t.Errorf("Runs = %v, want [3 12]", got)
	}
	if Runs(filepath.Join(dir, "missing")) != nil {
		t.Error("a missing log root has runs")
	}
}

func TestHistoryDamagedIsKeptAside(t *testing.T) {
	dir := t.TempDir()
	h := WithRun(nil, report.Summary{Counter: 1, Built: 2})
	if err := SaveHistory(dir, h); err != nil {
		t.Fatal(err)
	}
	got, aside, err := History(dir)
	if err != nil || aside != "" || len(got) != 1 || got[0].Counter != 1 {
		t.Fatalf("History = %v, %q, %v", got, aside, err)
	}
	os.WriteFile(filepath.Join(dir, historyFile), []byte("{garbage"), 0o644)
	got, aside, err = History(dir)
	if err != nil || got != nil || aside != filepath.Join(dir, "history.json.damaged") {
		t.Fatalf("damaged: History = %v, %q, %v", got, aside, err)
	}
	if b, _ := os.ReadFile(aside); string(b) != "{garbage" {
		t.Errorf("the damaged history was not kept: %q", b)
	}
}

func TestWithRunKeepsTheNewest(t *testing.T) {
	var h []report.Summary
	for i := 1; i <= historyKeep+5; i++ {
		h = WithRun(h, report.Summary{Counter: i})
	}
	if len(h) != historyKeep || h[0].Counter != historyKeep+5 || h[len(h)-1].Counter != 6 {
		t.Errorf("history holds %d runs, %d to %d", len(h), h[0].Counter, h[len(h)-1].Counter)
	}
}

// Every Update is on disk when it returns; a damaged module file reads as
// empty (a rebuild) and is named; the single file of earlier versions is
// moved into per-module files.
func TestModulesWriteThrough(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, legacyFile), []byte(`{"modules":{"old":{"key":"k-old","run":3},"b":{"key":"stale"}}}`), 0o644)
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Get("old").Key != "k-old" {
		t.Fatalf("legacy state not read: %+v", s.Get("old"))
	}
	if _, err := os.Stat(filepath.Join(dir, legacyFile)); !os.IsNotExist(err) {
		t.Error("the legacy file is still there")
	}
	if err := s.Update("a", func(m *Module) { m.Key, m.InProgress = "", "build" }); err != nil {
		t.Fatal(err)
	}
	if err := s.Update("b", func(m *Module) { m.Key, m.Run = "k-b", 7 }); err != nil {
		t.Fatal(err)
	}
	// What another process sees right after, with no Save.
	again, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := again.Get("a"); m.InProgress != "build" || m.Key != "" {
		t.Errorf("a = %+v", m)
	}
	if m := again.Get("b"); m.Key != "k-b" || m.Run != 7 {
		t.Errorf("b = %+v", m)
	}
	os.WriteFile(filepath.Join(dir, modulesDir, "b.json"), []byte("{torn"), 0o644)
	again, err = Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := again.Get("b"); m != (Module{}) || len(again.Damaged) != 1 || again.Damaged[0] != "b" {
		t.Errorf("damaged b = %+v, damaged %v", m, again.Damaged)
	}
	// A write that fails leaves memory as it was.
	os.RemoveAll(filepath.Join(dir, modulesDir))
	os.WriteFile(filepath.Join(dir, modulesDir), nil, 0o644)
	if err := again.Update("a", func(m *Module) { m.Key = "new" }); err == nil {
		t.Fatal("an Update that could not be written succeeded")
	}
	if again.Get("a").Key != "" {
		t.Error("a failed Update changed the state in memory")
	}
}
