// Package scmtest is the conformance suite of scm.SCM. Each backend runs
// it in a few lines, with a Repos that makes real repositories with the
// backend's own tool:
//
//	func TestConformance(t *testing.T) { scmtest.Run(t, git.Git{}, &gitRepos{}) }
//
// The suite resolves and checks out real repositories into real folders
// (a work tree and a metadata folder, scm.Dirs, side by side as the
// engine makes them) and checks the effects the engine relies on: the
// work tree holds exactly the committed files and nothing else, no
// metadata at all; folders that overlap are refused; Resolve follows new
// commits; Checkout moves a folder forwards and backwards between
// revisions, is idempotent, restores local changes and removes untracked
// files and folders; metadata a build planted in the work tree (a .git
// whose config rewrites the URL, with hooks and alternates; "gitdir:"
// files and symlinks) neither steers the next Checkout nor survives it; a
// metadata folder that holds another repository's history does not stop
// a checkout; a missing repository is an error, not an empty tree; Inputs
// names a local repository; and checkouts into different folders may run
// at once.
//
// It also checks that a checkout is the commit, exactly (fidelity.go): a
// committed symlink is data, written as the target text it holds ("/",
// "../..", an absolute path, a dangling one, one with a newline) and
// never resolved against the work tree nor followed, even where a later
// revision or a build puts a folder or a file in its place; and every
// name the SCM's tool commits on Linux (a newline, control characters,
// bytes that are not UTF-8) is checked out, idempotently.
//
// Repos' files are regular files named by slash paths, beside the
// symlinks of NewLinks; the suite does not look at file modes.
package scmtest
