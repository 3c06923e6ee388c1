package config

// The loader validates source kinds through the SCM registry; the
// binary wires git in, and so do these tests.
import _ "github.com/autobuild/autobuild/scm/git"
