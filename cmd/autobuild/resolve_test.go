package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/report"
)

// silentServer listens on the loopback with an ephemeral port, accepts
// every connection and never answers (until the test ends). It returns
// the port and the count of connections.
func silentServer(t *testing.T) (int, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		n     atomic.Int32
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, &n
}

// resolveFarm is a good module beside one whose repository is a server
// that never answers, over url's scheme, at the given SCM level and
// module timeout. The silent module's URL holds marker, so its steps'
// processes are found by it.
func resolveFarm(t *testing.T, scheme, level, timeout, marker string) (*farm, *atomic.Int32) {
	t.Helper()
	port, conns := silentServer(t)
	f := newFarm(t)
	f.repo("good", script(`echo fine > "$AUTOBUILD_PACKAGE_ROOT/ok"`))
	f.config(fmt.Sprintf(`scm_level: %s
modules:
  - {name: good, source: {url: repos/good}}
  - {name: silent, source: {url: "%s://127.0.0.1:%d/%s.git"}, timeout: %s}
`, level, scheme, port, marker, timeout))
	return f, conns
}

// The good module is built and published whatever the silent one does.
func checkGoodPublished(t *testing.T, f *farm, st *report.Run) {
	t.Helper()
	if m := module(st, "good"); m.State != report.Built {
		t.Errorf("good: %s (%s), want built", m.State, m.Reason)
	}
	if b, _ := os.ReadFile(filepath.Join(f.root, "public_html", "packages", "good", "ok")); string(b) != "fine\n" {
		t.Errorf("good's artifact was not published: %q", b)
	}
}

// A server that accepts the connection and never answers costs its
// module the module's timeout, in its confined SCM step, and nothing
// else: the run goes on, publishes the good module, and ends with
// nothing of the step left running. Over git's own protocol and smart
// HTTP, at the SCM level (outgoing network).
func TestResolveOfSilentServerTimesOut(t *testing.T) {
	for _, scheme := range []string{"git", "http"} {
		t.Run(scheme, func(t *testing.T) {
			marker := newMarker(t)
			f, conns := resolveFarm(t, scheme, "scm", "3s", marker)
			r := f.run()
			if r.code != 1 {
				t.Fatalf("want exit 1 (the silent module failed):\n%s", r.dump())
			}
			st := f.status()
			checkGoodPublished(t, f, st)
			if m := module(st, "silent"); m.State != report.Failed || !strings.Contains(m.Reason, "resolve timed out after 3s") {
				t.Errorf("silent: %s (%s), want failed: resolve timed out after 3s", m.State, m.Reason)
			}
			if conns.Load() == 0 {
				t.Errorf("the silent server saw no connection: the test proves nothing")
			}
			if left := waitNoMarker(marker, 5*time.Second); left != "" {
				t.Errorf("processes of the silent module's step survive the run:%s", left)
			}
			// The lock is free: the next run runs (and times out again).
			if r := f.run(); r.code != 1 {
				t.Errorf("the next run: want exit 1:\n%s", r.dump())
			}
		})
	}
}

// At an SCM level without network (isolated), the step cannot even
// connect: the resolve fails at once, for what it is, not for the
// timeout; the server never sees a connection.
func TestResolveWithoutNetworkFailsFast(t *testing.T) {
	requireConfinement(t)
	for _, scheme := range []string{"git", "http"} {
		t.Run(scheme, func(t *testing.T) {
			marker := newMarker(t)
			f, conns := resolveFarm(t, scheme, "isolated", "10m", marker)
			r := f.run()
			if r.code != 1 {
				t.Fatalf("want exit 1 (the silent module failed):\n%s", r.dump())
			}
			st := f.status()
			checkGoodPublished(t, f, st)
			m := module(st, "silent")
			t.Logf("silent: %s", m.Reason)
			if m.State != report.Failed || strings.Contains(m.Reason, "timed out") || !strings.Contains(m.Reason, "127.0.0.1") {
				t.Errorf("silent: %s (%s), want failed for its connection, not a timeout", m.State, m.Reason)
			}
			if n := conns.Load(); n != 0 {
				t.Errorf("the server saw %d connections from a step without network", n)
			}
			if left := waitNoMarker(marker, 5*time.Second); left != "" {
				t.Errorf("processes of the silent module's step survive the run:%s", left)
			}
		})
	}
}
