package slurm

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/autobuild/autobuild/sandbox"
)

// A node keeps its probe in the node root for this boot and binary: the
// kept answer is used while its key holds, a probe afresh otherwise (and
// kept for next time).
func TestNodeHostKept(t *testing.T) {
	root := t.TempDir()
	fresh := nodeHost(root)
	if fresh != sandbox.ProbeHost() {
		t.Fatalf("first answer %+v, want the probe's %+v", fresh, sandbox.ProbeHost())
	}
	var kept struct {
		Key  string       `json:"key"`
		Host sandbox.Host `json:"host"`
	}
	b, err := os.ReadFile(filepath.Join(root, "host.json"))
	if err != nil || json.Unmarshal(b, &kept) != nil || kept.Key != hostKey() || kept.Key == "" {
		t.Fatalf("kept %s, %v; want the probe under key %q", b, err, hostKey())
	}
	// A kept answer that differs from the machine shows it is the one
	// used; under another key it is not.
	for _, tc := range []struct {
		key  string
		want int
	}{{hostKey(), 99}, {"another boot", fresh.LandlockABI}} {
		kept.Key, kept.Host.LandlockABI = tc.key, 99
		b, _ = json.Marshal(kept)
		if err := os.WriteFile(filepath.Join(root, "host.json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := nodeHost(root).LandlockABI; got != tc.want {
			t.Errorf("key %q: Landlock ABI %d, want %d", tc.key, got, tc.want)
		}
	}
	// Garbage is probed over.
	os.WriteFile(filepath.Join(root, "host.json"), []byte("{"), 0o600)
	if got := nodeHost(root); got != fresh {
		t.Errorf("after a damaged file: %+v", got)
	}
}
