package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestHelpGolden keeps --help (what teaches the tool) under review: any
// change to it shows up as a diff of testdata/help-*.golden.
func TestHelpGolden(t *testing.T) {
	t.Setenv("AUTOBUILD_CONFIG", "")
	for _, args := range [][]string{{"--help"}, {"run", "--help"}, {"plan", "--help"}, {"doctor", "--help"}, {"import", "--help"}} {
		name := "help-" + strings.TrimPrefix(strings.Join(args[:len(args)-1], "-"), "-")
		if len(args) == 1 {
			name = "help-root"
		}
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := execute(context.Background(), args, &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if out.String() != string(want) {
				t.Errorf("%s changed (run with -update if intended):\n%s", golden, out.String())
			}
		})
	}
}

func TestExitCodesDocumented(t *testing.T) {
	var out bytes.Buffer
	execute(context.Background(), []string{"--help"}, &out, &out)
	for _, code := range []string{"0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "130"} {
		if !strings.Contains(out.String(), "\n  "+code) {
			t.Errorf("--help does not document exit status %q", code)
		}
	}
}
