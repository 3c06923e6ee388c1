package publish

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Site.CommitURL is a template of a commit's web address, such as
// "https://git.example.org/{module}/commit/{revision}": every page links
// a module's revision and each of its changes there. {module} is the
// module's name and {revision} the commit's ID (a module's revision, or
// a change's), each escaped as a URL path segment; no other placeholder
// is known. The template must make an absolute http or https URL.

// commitPlaceholder matches one placeholder of a commit URL template.
var commitPlaceholder = regexp.MustCompile(`\{[^{}]*\}`)

// CheckCommitURL checks a value for Site.CommitURL; the empty string is
// valid (revisions are not linked).
func CheckCommitURL(s string) error {
	if s == "" {
		return nil
	}
	for _, p := range commitPlaceholder.FindAllString(s, -1) {
		if p != "{module}" && p != "{revision}" {
			return fmt.Errorf("commit URL %q: unknown placeholder %s (known: {module}, {revision})", s, p)
		}
	}
	if !strings.Contains(s, "{revision}") {
		return fmt.Errorf("commit URL %q: must hold {revision}", s)
	}
	rest := commitPlaceholder.ReplaceAllString(s, "x")
	if strings.ContainsAny(rest, "{}") {
		return fmt.Errorf("commit URL %q: unbalanced { or }", s)
	}
	u, err := url.Parse(rest)
	switch {
	case err != nil:
		return fmt.Errorf("commit URL %q: %v", s, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("commit URL %q: must be an absolute http:// or https:// URL", s)
	case u.Host == "" || u.Opaque != "":
		return fmt.Errorf("commit URL %q: has no host", s)
	case u.User != nil:
		return fmt.Errorf("commit URL %q: must not hold a user name or password", s)
	}
	return nil
}

// commitURL is the address of revision rev of module under the template
// tmpl (checked); "" when there is no template or no revision.
func commitURL(tmpl, module, rev string) string {
	if tmpl == "" || rev == "" {
		return ""
	}
	return commitPlaceholder.ReplaceAllStringFunc(tmpl, func(p string) string {
		if p == "{module}" {
			return url.PathEscape(module)
		}
		return url.PathEscape(rev)
	})
}
