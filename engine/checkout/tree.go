package checkout

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path/filepath"
)

// treeFingerprint hashes a work tree's shape: every path below dir (all
// of it: the SCM's metadata is kept elsewhere) with its type, mode, size
// and modification time, as lstat sees them (symlinks are not followed). When it equals the fingerprint taken
// right after the checkout, no build changed the tree, and the next
// build may start without a reset. A build that forges times and sizes
// can only fool this about its own tree.
func treeFingerprint(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%q %v %d %d\n", rel, info.Mode(), info.Size(), info.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
