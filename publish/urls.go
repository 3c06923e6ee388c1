package publish

import (
	"net/url"
	"strings"
)

// LogURL is the address of module's log on the live site served at
// siteURL (its files at filesURL, when set: see Site.FilesURL): the site
// publishes a module's log as logs/<module>.log. It is empty when neither
// address is configured.
func LogURL(siteURL, filesURL, module string) string {
	base := siteURL
	if filesURL != "" {
		base = filesURL
	}
	if base == "" {
		return ""
	}
	return strings.TrimSuffix(base, "/") + "/logs/" + url.PathEscape(module+".log")
}

// CheckInput refuses a malformed Input, as every Publisher must (see
// Publisher): no Run, or a module name that is empty, "." or "..", holds
// a "/" or a NUL, is not UTF-8, or repeats.
func CheckInput(in Input) error { return checkInput(in) }
