package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The build uid range is the configuration's: builds run in it, plan
// says which uid, and doctor shows the range.
func TestBuildUIDRange(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("per-module uids need root")
	}
	f := newFarm(t)
	f.config(fmt.Sprintf("build_uids: {first: 400000, count: 50}\nmodules:\n  - name: who\n    source: {url: %s}\n",
		f.repo("who", map[string]string{"autobuild.sh": "#!/bin/sh\nid -u > $AUTOBUILD_PACKAGE_ROOT/uid\n"})))
	if r := f.run(); r.code != 0 {
		t.Fatalf("run:\n%s", r.dump())
	}
	b, err := os.ReadFile(filepath.Join(f.root, "package-root", "who", "uid"))
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if uid < 400000 || uid >= 400050 {
		t.Errorf("the build ran as uid %d, outside 400000–400049", uid)
	}
	p := ab(t, nil, "plan", "--json", "--config", f.cfg)
	var plan struct {
		Modules []struct {
			Name string `json:"name"`
			UID  int    `json:"uid"`
		} `json:"modules"`
	}
	if err := json.Unmarshal([]byte(p.stdout), &plan); err != nil || len(plan.Modules) != 1 {
		t.Fatalf("plan --json: %v\n%s", err, p.dump())
	}
	if plan.Modules[0].UID != uid {
		t.Errorf("plan says uid %d, the build ran as %d", plan.Modules[0].UID, uid)
	}
	if d := ab(t, nil, "doctor", "--config", f.cfg); !strings.Contains(d.stdout, "build uids: 400000–400049") {
		t.Errorf("doctor does not show the range:\n%s", d.dump())
	}
}
