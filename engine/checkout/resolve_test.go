package checkout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/executor"
	"github.com/autobuild/autobuild/sandbox"
	"github.com/autobuild/autobuild/scm"
)

// answerer is an executor whose steps answer as plant makes the answer
// file (by default, a file holding answer), and end as result says; it
// runs nothing.
type answerer struct {
	recorder
	answer string
	plant  func(t *testing.T, path string)
	result sandbox.Result
	t      *testing.T
}

func (a *answerer) Run(ctx context.Context, s *executor.Step) (sandbox.Result, error) {
	a.recorder.Run(ctx, s)
	var sp spec
	if err := json.Unmarshal([]byte(s.Args[len(s.Args)-1]), &sp); err != nil {
		a.t.Fatal(err)
	}
	switch {
	case a.plant != nil:
		a.plant(a.t, sp.Answer)
	case a.answer != "":
		if err := os.WriteFile(sp.Answer, []byte(a.answer), 0o644); err != nil {
			a.t.Fatal(err)
		}
	}
	return a.result, nil
}

func resolveRequest(t *testing.T, root string) ResolveRequest {
	req := request(t, root)
	return ResolveRequest{
		Module: req.Module, Sources: req.Sources, Tmp: req.Tmp,
		Profile: sandbox.Profile{Level: "scm"}, Timeout: 3 * time.Second,
		Log: &bytes.Buffer{}, Say: req.Say,
	}
}

// The resolve is the module's SCM step: this binary in its resolve mode,
// at the module's profile and timeout, reading the binary and the
// source's local paths, writing only its temp folder (emptied first);
// its answer on stdout is the revision.
func TestResolveRunsTheSCMStep(t *testing.T) {
	root := t.TempDir()
	ex := &answerer{recorder: recorder{root: root}, answer: `{"revisions":[{"id":"0123456789abcdef"}]}` + "\n", t: t}
	req := resolveRequest(t, root)
	if err := os.MkdirAll(req.Tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(req.Tmp+"/left-by-a-build", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	rev, err := Resolve(context.Background(), ex, req)
	if err != nil || rev.ID != "0123456789abcdef" {
		t.Fatalf("Resolve = %v, %v", rev, err)
	}
	if len(ex.steps) != 1 {
		t.Fatalf("%d steps, want 1", len(ex.steps))
	}
	s := ex.steps[0]
	if len(s.Args) != 3 || s.Args[0] != "/autobuild" || s.Args[1] != ResolveArg {
		t.Errorf("Args = %q", s.Args)
	}
	var sp spec
	if err := json.Unmarshal([]byte(s.Args[2]), &sp); err != nil || !slices.Equal(sp.Sources, req.Sources) || sp.Answer != filepath.Join(req.Tmp, answerFile) {
		t.Errorf("spec = %+v, %v", sp, err)
	}
	if s.Timeout != req.Timeout || s.Profile.Level != "scm" || s.Module != "m" {
		t.Errorf("step timeout %s, level %q, module %q", s.Timeout, s.Profile.Level, s.Module)
	}
	if !slices.Equal(s.Outputs, []string{req.Tmp}) || !slices.Contains(s.Inputs, "/autobuild") {
		t.Errorf("Inputs = %q, Outputs = %q", s.Inputs, s.Outputs)
	}
	if _, err := os.Stat(filepath.Join(req.Tmp, "left-by-a-build")); err == nil {
		t.Errorf("the temp folder was not emptied")
	}
}

// A step that did not answer in time, or answered anything but one
// plain revision, is an error naming it; the step's own error is passed
// on, without its control characters.
func TestResolveFailures(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte(`{"error":"SECRET"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		answer string
		plant  func(t *testing.T, path string)
		result sandbox.Result
		want   string
	}{
		{"timed out", "", nil, sandbox.Result{ExitCode: -1, TimedOut: true}, "resolve timed out after 3s"},
		{"no answer", "", nil, sandbox.Result{ExitCode: 2}, "resolve failed (exit 2): see the log"},
		{"garbage", "hello", nil, sandbox.Result{}, "resolve failed (exit 0): see the log"},
		{"too much", `{"revisions":[{"id":"` + strings.Repeat("a", maxAnswer) + `"}]}`, nil, sandbox.Result{}, "more than 1048576 bytes"},
		{"empty revision", `{"revisions":[{"id":""}]}`, nil, sandbox.Result{}, "revision of 0 bytes"},
		{"revision with a newline", `{"revisions":[{"id":"abc\nFAKE LOG LINE"}]}`, nil, sandbox.Result{}, `with '\n' in it`},
		{"revision with a space", `{"revisions":[{"id":"abc def"}]}`, nil, sandbox.Result{}, `with ' ' in it`},
		{"long revision", `{"revisions":[{"id":"` + strings.Repeat("a", 300) + `"}]}`, nil, sandbox.Result{}, "revision of 300 bytes"},
		{"error", `{"error":"no branch x\u001b[31m\nmore"}`, nil, sandbox.Result{ExitCode: 1}, "no branch x [31m more"},
		{"answer then exit 1", `{"revisions":[{"id":"abc"}]}`, nil, sandbox.Result{ExitCode: 1}, "resolve failed (exit 1)"},
		// The step writes its temp folder: its answer may be a symlink to
		// a file only the engine may read, or a FIFO nobody writes.
		{"symlink to a secret", "", func(t *testing.T, p string) {
			if err := os.Symlink(secret, p); err != nil {
				t.Fatal(err)
			}
		}, sandbox.Result{ExitCode: 1}, "resolve failed (exit 1): see the log"},
		{"fifo", "", func(t *testing.T, p string) {
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}, sandbox.Result{}, "resolve failed (exit 0): see the log"},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			ex := &answerer{recorder: recorder{root: root}, answer: c.answer, plant: c.plant, result: c.result, t: t}
			rev, err := Resolve(context.Background(), ex, resolveRequest(t, root))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Resolve = %v, %v; want an error with %q", rev, err, c.want)
			}
		})
	}
}

// fakeResolver resolves by its URL: "ok" to a revision, anything else to
// an error.
type fakeResolver struct{ fakeSCM }

func (fakeResolver) Resolve(_ context.Context, src scm.Source) (scm.Revision, error) {
	if src.URL == "ok" {
		return scm.Revision{ID: "0123456789012345678901234567890123456789"}, nil
	}
	return scm.Revision{}, errors.New(src.URL + ": no branch main")
}

func init() { scm.Register("fake-resolver", fakeResolver{}) }

// The child side answers what the SCM resolved, or its error, as the
// engine side reads it.
func TestRunResolveAnswers(t *testing.T) {
	for _, c := range []struct {
		url, wantID, wantErr string
		code                 int
	}{{"ok", "0123456789012345678901234567890123456789", "", 0}, {"/gone", "", "/gone: no branch main", 1}} {
		raw, err := encode(scm.Source{Kind: "fake-resolver", URL: c.url}, "", scm.Dirs{}, "")
		if err != nil {
			t.Fatal(err)
		}
		var sp spec
		if err := json.Unmarshal([]byte(raw), &sp); err != nil {
			t.Fatal(err)
		}
		sp.Answer = filepath.Join(t.TempDir(), answerFile)
		b, _ := json.Marshal(sp)
		var stdout, stderr bytes.Buffer
		if code := runResolve(context.Background(), string(b), &stdout, &stderr); code != c.code {
			t.Errorf("%s: exit %d, want %d (%s)", c.url, code, c.code, stderr.String())
		}
		answer, err := os.ReadFile(sp.Answer)
		if err != nil {
			t.Fatal(err)
		}
		// The answer file exists already: the step does not write through
		// or over what is there.
		if code := runResolve(context.Background(), string(b), &stdout, &stderr); code != 2 {
			t.Errorf("%s: a second answer into the same file: exit %d, want 2", c.url, code)
		}
		root := t.TempDir()
		ex := &answerer{recorder: recorder{root: root}, answer: string(answer), result: sandbox.Result{ExitCode: c.code}, t: t}
		rev, err := Resolve(context.Background(), ex, resolveRequest(t, root))
		switch {
		case c.wantErr == "" && (err != nil || rev.ID != c.wantID):
			t.Errorf("%s: Resolve = %v, %v; want %s", c.url, rev, err, c.wantID)
		case c.wantErr != "" && (err == nil || err.Error() != c.wantErr):
			t.Errorf("%s: Resolve = %v, %v; want the error %q", c.url, rev, err, c.wantErr)
		}
	}
}
