package publish

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"path/filepath"
	"strings"

	"github.com/autobuild/autobuild/engine/report"
)

// SHA256SUMS. Each module's folder of the site (packages/<module>/) holds
// a SHA256SUMS file listing its published artifacts, so that
// "sha256sum -c SHA256SUMS" run in that folder checks a download. Lines
// are GNU coreutils' format ("<hex>  <name>"); a name with a backslash or
// a newline is written as coreutils writes it: the line starts with "\",
// and the name has "\\" for a backslash and "\n" for a newline. A
// carriage return and bytes that are not UTF-8 are written as they are
// (coreutils reads them back unchanged). A module whose build left its
// own SHA256SUMS at the top of its package root keeps it: the site writes
// none for it, and its page says so.

// sumsName is the file's name in packages/<module>/.
const sumsName = "SHA256SUMS"

// sumsLine is artifact a's line of a SHA256SUMS file.
func sumsLine(a report.Artifact) string {
	name := a.Path
	if !strings.ContainsAny(name, "\\\n") {
		return a.SHA256 + "  " + name + "\n"
	}
	name = strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(name)
	return `\` + a.SHA256 + "  " + name + "\n"
}

// sums returns the SHA256SUMS file of artifacts.
func sums(artifacts []report.Artifact) []byte {
	var b bytes.Buffer
	for _, a := range artifacts {
		b.WriteString(sumsLine(a))
	}
	return b.Bytes()
}

// ownSums reports whether the build published a file named SHA256SUMS at
// the top of its folder.
func ownSums(artifacts []report.Artifact) bool {
	for _, a := range artifacts {
		if a.Path == sumsName {
			return true
		}
	}
	return false
}

// writeSums writes packages/<module>/SHA256SUMS of every module with
// published artifacts into the new site (cache's; a link to the live
// site's when it holds the same: the key is the file's SHA-256), and
// returns the modules that have one.
func writeSums(cache *pageCache, run *report.Run) (map[string]bool, error) {
	have := map[string]bool{}
	for _, m := range run.Modules {
		if len(m.Artifacts) == 0 || ownSums(m.Artifacts) {
			continue
		}
		b := sums(m.Artifacts)
		sum := sha256.Sum256(b)
		rel := filepath.Join("packages", m.Name, sumsName)
		if err := cache.put(rel, "sums:"+hex.EncodeToString(sum[:]), func(w io.Writer) error {
			_, err := w.Write(b)
			return err
		}); err != nil {
			return nil, err
		}
		have[m.Name] = true
	}
	return have, nil
}
