package sandbox

import (
	"fmt"
	"testing"
)

func TestAssignIDsUniqueAndStable(t *testing.T) {
	var names []string
	for i := range 3000 {
		names = append(names, fmt.Sprintf("module-%d", i))
	}
	ids := AssignIDs(names)
	uids, mcs := map[int]string{}, map[string]string{}
	for _, n := range names {
		id := ids[n]
		if id.UID < BuildUIDBase || id.UID >= BuildUIDBase+BuildUIDRange {
			t.Fatalf("%s: uid %d out of range", n, id.UID)
		}
		if id.Cats[0] >= id.Cats[1] || id.Cats[1] > 1023 || id.Cats[0] < 0 {
			t.Fatalf("%s: bad categories %v", n, id.Cats)
		}
		if o, dup := uids[id.UID]; dup {
			t.Fatalf("%s and %s share uid %d", n, o, id.UID)
		}
		if o, dup := mcs[id.MCS()]; dup {
			t.Fatalf("%s and %s share %s", n, o, id.MCS())
		}
		uids[id.UID], mcs[id.MCS()] = n, n
	}
	// Stable: the same set in another order gives the same identities, and
	// a module alone gets its preferred uid.
	rev := append([]string(nil), names...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	again := AssignIDs(rev)
	for _, n := range names {
		if again[n] != ids[n] {
			t.Fatalf("%s: %v then %v", n, ids[n], again[n])
		}
	}
	if AssignIDs([]string{"solo"})["solo"].UID != BuildUID("solo") {
		t.Errorf("a module alone does not get its preferred uid")
	}
}

func TestPairAtCoversAllPairs(t *testing.T) {
	if p := pairAt(0); p != [2]int{0, 1} {
		t.Errorf("pairAt(0) = %v", p)
	}
	if p := pairAt(catPairs - 1); p != [2]int{1022, 1023} {
		t.Errorf("pairAt(last) = %v", p)
	}
}
