package tabconf

import (
	"fmt"
	"strings"
	"testing"
)

// chainConf is a file of n modules, each depending on the one before.
func chainConf(n int) []byte {
	var b strings.Builder
	for i := range n {
		dep := ""
		if i > 0 {
			dep = fmt.Sprintf("depends = (\n m%d\n)\nartifacts = (\n)\ncolour = x", i-1)
		}
		b.WriteString(mod(fmt.Sprintf("m%d", i), dep))
	}
	return []byte(conf("", gitRepo, b.String()))
}

// BenchmarkImportChain imports 10,000 modules, each depending on the
// one before and each with a setting not carried over.
func BenchmarkImportChain(b *testing.B) {
	data := chainConf(10000)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r, err := Import("chain.conf", data)
		if err != nil || len(r.Modules) != 10000 {
			b.Fatal(err)
		}
	}
}
