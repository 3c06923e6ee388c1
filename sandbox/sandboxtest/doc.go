// Package sandboxtest is the conformance suite of sandbox.Runner. Each
// implementation runs it in a few lines:
//
//	func TestExecConformance(t *testing.T) {
//		sandboxtest.Run(t, &sandbox.Exec{Self: helperBinary, Host: sandbox.ProbeHost()})
//	}
//
// The suite starts real processes and checks real effects: files written
// or not, a TCP listener the test opened that was or was not reached, a
// process the test started that could or could not be signalled. Every
// confinement check runs twice, confined and unconfined: the unconfined
// control run proves the attack works, so the confined run's failure is
// the sandbox's doing and not a broken script.
//
// Confined steps re-execute the runner's helper binary. In a test binary
// that is the test binary itself, so the package's TestMain must call
// sandbox.RunHelperIfRequested first, and the binary must sit in a folder
// the build uids may traverse (go test's own temp folder is private to
// root): copy it with HelperBinary.
//
// Tests that need root, Landlock or namespaces skip with the reason via
// internal/testutil.Skip, which fails instead when
// AUTOBUILD_TEST_DISALLOW_SKIP is set.
package sandboxtest
