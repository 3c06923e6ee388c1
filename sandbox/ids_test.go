package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestHostReservedIDsAreNeverGiven(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	files := map[string]string{
		"passwd": "root:x:0:0:root:/root:/bin/sh\nsvc:x:200500:200500::/:/bin/false\n",
		"group":  "root:x:0:\nsvc:x:200501:\n",
		"subuid": "# rootless containers\nbuilder:200000:500\n",
		"subgid": "builder:200502:10\n",
	}
	for n, body := range files {
		if err := os.WriteFile(filepath.Join(root, "etc", n), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	reserved, err := HostReservedIDs(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(reserved) != 6 {
		t.Fatalf("reserved = %+v, want 6 ranges", reserved)
	}
	// A space of 520 ids of which 512 are the host's: 8 are free.
	space := IDSpace{First: 200000, Count: 520, Reserved: reserved}
	if got := space.Free(); got != 8 {
		t.Errorf("Free() = %d, want 8", got)
	}
	var names []string
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		names = append(names, n)
	}
	ids, err := space.Assign(names)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]string{}
	for n, id := range ids {
		if why, taken := space.reserved(id.UID); taken {
			t.Errorf("%s got uid %d, reserved by %s", n, id.UID, why)
		}
		if id.UID < 200000 || id.UID >= 200520 {
			t.Errorf("%s got uid %d outside the space", n, id.UID)
		}
		if o, dup := seen[id.UID]; dup {
			t.Errorf("%s and %s share uid %d", n, o, id.UID)
		}
		seen[id.UID] = n
	}
	// Control: without the reservations the same names land on host ids.
	plain, _ := IDSpace{First: 200000, Count: 520}.Assign(names)
	hit := false
	for _, id := range plain {
		if _, taken := space.reserved(id.UID); taken {
			hit = true
		}
	}
	if !hit {
		t.Error("control: without reservations no module lands on a host id; the check proves nothing")
	}
	if _, err := space.Assign(append(names, "one-too-many")); !errors.Is(err, ErrNoIDs) {
		t.Errorf("nine modules in eight free ids: %v", err)
	}
}
