// Package scmtest is the conformance suite of scm.SCM. Each backend runs
// it in a few lines, with a Repos that makes real repositories with the
// backend's own tool:
//
//	func TestConformance(t *testing.T) { scmtest.Run(t, git.Git{}, gitRepos{}) }
//
// The suite resolves and checks out real repositories into real folders
// and checks the effects the engine relies on: the work tree holds exactly
// the committed files and nothing else (its top-level metadata aside, which
// IsMetadata must recognise and nothing else); Resolve follows new commits;
// Checkout moves a folder forwards and backwards between revisions, is
// idempotent, restores local changes and removes untracked files and
// folders; a missing repository is an error, not an empty tree; Inputs
// names a local repository; and checkouts into different folders may run
// at once.
//
// Repos' files are plain regular files named by slash paths; the suite
// does not look at file modes.
package scmtest
