package cachekey

import "testing"

func TestEveryInputChangesTheKey(t *testing.T) {
	base := Inputs{Module: "m", SourceKind: "git", SourceURL: "/srv/git/m", Revision: "r1", DepKeys: map[string]string{"a": "k1"}, Command: "./autobuild.sh",
		Env: []string{"X=1"}, Level: "isolated", LevelRules: "net none", Version: "1"}
	k := Key(base)
	if Key(base) != k {
		t.Fatal("key is not deterministic")
	}
	changes := map[string]func(*Inputs){
		"module":      func(in *Inputs) { in.Module = "n" },
		"source kind": func(in *Inputs) { in.SourceKind = "hg" },
		"source url":  func(in *Inputs) { in.SourceURL = "/srv/git/other" },
		"sources":     func(in *Inputs) { in.Sources = []Source{{Path: "a", Kind: "git", URL: "/srv/git/m"}} },
		"source path": func(in *Inputs) { in.Sources = []Source{{Path: "b", Kind: "git", URL: "/srv/git/m"}} },
		"revision":    func(in *Inputs) { in.Revision = "r2" },
		"dep key":     func(in *Inputs) { in.DepKeys = map[string]string{"a": "k2"} },
		"new dep":     func(in *Inputs) { in.DepKeys = map[string]string{"a": "k1", "b": "k3"} },
		"command":     func(in *Inputs) { in.Command = "make" },
		"env":         func(in *Inputs) { in.Env = []string{"X=2"} },
		"level":       func(in *Inputs) { in.Level = "network" },
		"level rules": func(in *Inputs) { in.LevelRules = "net outgoing" },
		"version":     func(in *Inputs) { in.Version = "2" },
		"merged":      func(in *Inputs) { in.InstallRoot = "merged" },
	}
	for name, change := range changes {
		in := base
		change(&in)
		if Key(in) == k {
			t.Errorf("changing %s did not change the key", name)
		}
	}
}
