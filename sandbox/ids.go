package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// IDRange is a range of uids or gids: First, First+1, …, First+Count-1.
type IDRange struct {
	First, Count int
	// Why names who holds the range ("/etc/subuid: builder").
	Why string
}

func (r IDRange) contains(id int) bool { return id >= r.First && id < r.First+r.Count }

// IDSpace is where module uids come from: a range, less the ids the host
// already gives to someone. A build uid that is also an account, or falls
// in a user's subordinate range (/etc/subuid, used by rootless
// containers), would let that account's processes and the build's touch
// each other's files and signal each other.
type IDSpace struct {
	First, Count int
	// Reserved ids are never given (see HostReservedIDs).
	Reserved []IDRange
}

// ErrNoIDs is returned when the space has fewer free ids than modules.
var ErrNoIDs = errors.New("not enough free build uids")

// reserved reports whether id is taken by the host, with the reason.
func (s IDSpace) reserved(id int) (string, bool) {
	for _, r := range s.Reserved {
		if r.contains(id) {
			return r.Why, true
		}
	}
	return "", false
}

// Free counts the ids of the space that no host range takes.
func (s IDSpace) Free() int {
	free := 0
	for u := s.First; u < s.First+s.Count; u++ {
		if _, taken := s.reserved(u); !taken {
			free++
		}
	}
	return free
}

// Assign gives every module a uid and a category pair of its own. Each is
// derived from the module's name, so it is the same in every cron run;
// when two names hash alike, or a uid is reserved by the host, the module
// takes the next free slot (names that sort later yield to earlier
// ones). Only adding a module that collides, or a host account appearing
// in the range, can move a module's identity, and the engine re-owns and
// relabels its folders when it changes.
func (s IDSpace) Assign(modules []string) (map[string]ID, error) {
	if s.Count <= 0 {
		return nil, fmt.Errorf("%w: the range %d+%d is empty", ErrNoIDs, s.First, s.Count)
	}
	names := append([]string(nil), modules...)
	sort.Strings(names)
	if free := s.Free(); free < len(names) {
		return nil, fmt.Errorf("%w: %d modules, %d free uids in %d–%d", ErrNoIDs, len(names), free, s.First, s.First+s.Count-1)
	}
	uids := map[int]bool{}
	pairs := map[int]bool{}
	out := make(map[string]ID, len(names))
	for _, n := range names {
		u := int(hash("uid:"+n) % uint32(s.Count))
		for {
			_, taken := s.reserved(s.First + u)
			if !uids[u] && !taken {
				break
			}
			u = (u + 1) % s.Count
		}
		uids[u] = true
		p := int(hash("mcs:"+n) % catPairs)
		for pairs[p] {
			p = (p + 1) % catPairs
		}
		pairs[p] = true
		out[n] = ID{UID: s.First + u, Cats: pairAt(p)}
	}
	return out, nil
}

// HostReservedIDs reads the ids this host gives to someone, below root
// (normally "/"): every account's uid and every group's gid (/etc/passwd,
// /etc/group), and the subordinate ranges of /etc/subuid and /etc/subgid.
// A missing file reserves nothing.
func HostReservedIDs(root string) ([]IDRange, error) {
	var out []IDRange
	for _, f := range []struct {
		name string
		// parse turns the fields of a line into a range.
		parse func(fields []string) (IDRange, bool)
	}{
		{"etc/passwd", single(2)},
		{"etc/group", single(2)},
		{"etc/subuid", subordinate},
		{"etc/subgid", subordinate},
	} {
		p := filepath.Join(root, f.name)
		file, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(file)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			fields := strings.Split(line, ":")
			if r, ok := f.parse(fields); ok {
				r.Why = "/" + f.name + ": " + fields[0]
				out = append(out, r)
			}
		}
		err = sc.Err()
		file.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return out, nil
}

// single reads an account's id from field i.
func single(i int) func([]string) (IDRange, bool) {
	return func(f []string) (IDRange, bool) {
		if len(f) <= i {
			return IDRange{}, false
		}
		id, err := strconv.Atoi(f[i])
		return IDRange{First: id, Count: 1}, err == nil
	}
}

// subordinate reads "name:first:count".
func subordinate(f []string) (IDRange, bool) {
	if len(f) != 3 {
		return IDRange{}, false
	}
	first, err1 := strconv.Atoi(f[1])
	count, err2 := strconv.Atoi(f[2])
	return IDRange{First: first, Count: count}, err1 == nil && err2 == nil && count > 0
}
