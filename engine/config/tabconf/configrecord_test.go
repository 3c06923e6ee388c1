package tabconf

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/internal/testutil"
)

// deliberateStrictness are the files Parse refuses on purpose while
// Config::Record reads them (the package doc names them). Each has an
// example, and TestParserAgreesWithConfigRecord checks that
// Config::Record reads the example, as perl says: an entry that no longer
// differs fails the test. A file Parse refuses and Config::Record reads
// must be refused for one of these (msg is a part of Parse's error).
var deliberateStrictness = []struct {
	name, msg, why string
	in             string
	perl           string // Config::Record's tree of in, as dump-record.pl prints it
}{
	{
		name: "a key twice", msg: "is defined twice",
		why:  "Config::Record keeps the last silently; an import must not drop a setting without a word",
		in:   "a = 1\nb = 2\nm = {\n x = y\n}\na = 3\nm = z\n",
		perl: `{"a":"3","b":"2","m":"z"}`,
	},
	{
		name: "here-document open at the end", msg: "never ends",
		why:  "Config::Record makes the rest of the file the value: a forgotten end word, not a setting",
		in:   "d = <<EOF\nline\nx = y\n",
		perl: `{"d":"line\nx = y\n"}`,
	},
	{
		name: "continued line at the end", msg: "ends with a backslash, but the file ends",
		why:  "a line continued by nothing is a cut file",
		in:   "a = b \\\n",
		perl: `{"a":"b "}`,
	},
	{
		name: "not UTF-8", msg: "not UTF-8",
		why:  "Config::Record passes bytes on; autobuild's configuration is UTF-8 text, so the file is converted first",
		in:   "label = Caf\xe9\n",
		perl: `{"label":"Caf\u00e9"}`,
	},
	{
		name: "Template Toolkit directive", msg: "Template Toolkit directive",
		why:  "Test-AutoBuild expanded [% … %] before Config::Record read the file: the literal text is not what it used",
		in:   "buildRoot = [% root %]\n",
		perl: `{"buildRoot":"[% root %]"}`,
	},
	{
		name: "here-document line ending with its word", msg: "the word of the here-document",
		why:  "Config::Record ends the here-document there, mid-text: almost surely not what the file meant",
		in:   "l = (\n <<EOF\nnot EOF\nEOF\n)\n",
		perl: `{"l":["","EOF"]}`,
	},
	{
		name: "here-document word 0", msg: "<<0",
		why:  `Config::Record tests the word for truth, and "0" is false: it reads one continued line instead`,
		in:   "l = (\n <<0\n  abc  \n)\n",
		perl: `{"l":["abc"]}`,
	},
	{
		name: "nesting deeper than MaxDepth", msg: "nested more than",
		why:  "a bound on the parser's memory and on its readers' recursion (Test-AutoBuild's files nest four deep)",
		in:   "a = (\n" + strings.Repeat("(\n", MaxDepth) + strings.Repeat(")\n", MaxDepth+1),
		perl: `{"a":` + strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1) + `}`,
	},
}

// strictness names the deliberate strictness err is, or "".
func strictness(err error) string {
	var e *Error
	if !errors.As(err, &e) {
		return ""
	}
	for _, d := range deliberateStrictness {
		if strings.Contains(e.Msg, d.msg) {
			return d.name
		}
	}
	return ""
}

// Config::Record (Debian's libconfig-record-perl) reads every file Parse
// reads into the same tree: the fixtures, every case of the table tests,
// the fuzz corpus and 200 generated files. Where only Parse refuses a
// file, it is one of deliberateStrictness; Config::Record never refuses
// what Parse reads.
func TestParserAgreesWithConfigRecord(t *testing.T) {
	requireConfigRecord(t)

	type input struct {
		name string
		data []byte
		kind int
		d    int // the deliberateStrictness entry, of kind strict
		gen  bool
	}
	const (
		agree   = iota // Parse reads it, and Config::Record the same
		general        // both read it the same, or both refuse it, or a deliberate strictness
		strict         // a deliberateStrictness example
	)
	var inputs []input
	fixtures, err := filepath.Glob("testdata/*.conf")
	if err != nil || len(fixtures) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range fixtures {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, input{f, data, agree, 0, false})
	}
	for _, c := range parseCases {
		inputs = append(inputs, input{"TestParse/" + c.name, []byte(c.in), agree, 0, false})
	}
	for _, c := range parseErrorCases {
		inputs = append(inputs, input{"TestParseErrors/" + c.name, []byte(c.in), general, 0, false})
	}
	for j, d := range deliberateStrictness {
		inputs = append(inputs, input{"deliberate/" + d.name, []byte(d.in), strict, j, false})
	}
	corpus := fuzzCorpus(t)
	for i, data := range corpus {
		inputs = append(inputs, input{fmt.Sprintf("fuzz corpus %d", i), data, general, 0, false})
	}
	r := rand.New(rand.NewPCG(1, 2))
	const generated = 200
	for i := range generated {
		inputs = append(inputs, input{fmt.Sprintf("generated %d", i), genConfig(r), general, 0, true})
	}

	datas := make([][]byte, len(inputs))
	for i, in := range inputs {
		datas[i] = in.data
	}
	results := runConfigRecord(t, datas)

	var bothRead, genRead, bothRefuse int
	onlyStrict := map[string]int{}
	for i, in := range inputs {
		got := results[i]
		n, perr := Parse("in.conf", in.data)
		switch in.kind {
		case agree:
			if perr != nil {
				t.Errorf("%s: Parse refuses it: %v", in.name, perr)
				continue
			}
		case strict:
			d := deliberateStrictness[in.d]
			if s := strictness(perr); s != d.name {
				t.Errorf("%s: Parse says %v, want the error of %q", in.name, perr, d.name)
			}
			if got.err != nil {
				t.Errorf("%s: Config::Record refuses it too (%s): this is no longer a difference, take it off deliberateStrictness", in.name, *got.err)
				continue
			}
			want, err := decodePerl([]byte(d.perl))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.tree, want) {
				t.Errorf("%s: Config::Record reads\n%s\nwant\n%s", in.name, show(got.tree), show(want))
			}
			continue
		}
		switch {
		case perr == nil && got.err == nil:
			bothRead++
			if in.gen {
				genRead++
			}
			if want := goTree(n); !reflect.DeepEqual(got.tree, want) {
				t.Errorf("%s: %q\nConfig::Record reads %s\nParse reads          %s", in.name, in.data, show(got.tree), show(want))
			}
		case perr == nil:
			t.Errorf("%s: %q\nParse reads %s, but Config::Record refuses it: %s", in.name, in.data, show(goTree(n)), *got.err)
		case got.err == nil:
			s := strictness(perr)
			if s == "" {
				t.Errorf("%s: %q\nConfig::Record reads %s, but Parse refuses it (%v), and that is none of deliberateStrictness", in.name, in.data, show(got.tree), perr)
			}
			onlyStrict[s]++
		default:
			bothRefuse++
		}
	}
	t.Logf("%d files: both read %d the same (%d of the %d generated), both refuse %d, only Parse refuses %v; fuzz corpus: %d files",
		len(inputs), bothRead, genRead, generated, bothRefuse, onlyStrict, len(corpus))
	// The generated files must mostly be files both read, or the
	// comparison of trees above says little of them.
	if genRead < generated/2 {
		t.Errorf("both read only %d of the %d generated files", genRead, generated)
	}
}

// requireConfigRecord skips (fails where the tools are required, see
// testutil.NeedTool) without perl and Config::Record.
func requireConfigRecord(t *testing.T) {
	t.Helper()
	testutil.NeedTool(t, "perl", "perl")
	if out, err := exec.Command("perl", "-MConfig::Record", "-MJSON::PP", "-e1").CombinedOutput(); err != nil {
		testutil.Missing(t, fmt.Sprintf("perl has no Config::Record (apt-get install libconfig-record-perl): %v: %.200s", err, out))
	}
}

// recordResult is what Config::Record made of one file: tree, or err.
type recordResult struct {
	tree any
	err  *string
}

// runConfigRecord reads each of inputs with Config::Record, in one run
// of testdata/dump-record.pl.
func runConfigRecord(t *testing.T, inputs [][]byte) []recordResult {
	t.Helper()
	dir := t.TempDir()
	args := []string{"testdata/dump-record.pl"}
	for i, data := range inputs {
		p := filepath.Join(dir, fmt.Sprintf("%04d.conf", i))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	var stderr bytes.Buffer
	cmd := exec.Command("perl", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dump-record.pl: %v\n%s", err, stderr.Bytes())
	}
	var results []recordResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var line struct {
			Tree  json.RawMessage `json:"tree"`
			Error *string         `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("dump-record.pl printed %.200q: %v", sc.Bytes(), err)
		}
		r := recordResult{err: line.Error}
		if r.err == nil {
			if r.tree, err = decodePerl(line.Tree); err != nil {
				t.Fatalf("dump-record.pl printed %.200q: %v", line.Tree, err)
			}
		}
		results = append(results, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(results) != len(inputs) {
		t.Fatalf("dump-record.pl printed %d results for %d files\n%s", len(results), len(inputs), stderr.Bytes())
	}
	return results
}

// decodePerl reads a tree as dump-record.pl prints it: every character
// of a key or text is one byte.
func decodePerl(data []byte) (any, error) {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	var conv func(v any) (any, error)
	str := func(s string) (string, error) {
		b := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 0xff {
				return "", fmt.Errorf("the character %U is not a byte", r)
			}
			b = append(b, byte(r))
		}
		return string(b), nil
	}
	conv = func(v any) (any, error) {
		switch v := v.(type) {
		case map[string]any:
			m := make(map[string]any, len(v))
			for k, x := range v {
				kb, err := str(k)
				if err != nil {
					return nil, err
				}
				if m[kb], err = conv(x); err != nil {
					return nil, err
				}
			}
			return m, nil
		case []any:
			l := make([]any, len(v))
			for i, x := range v {
				var err error
				if l[i], err = conv(x); err != nil {
					return nil, err
				}
			}
			return l, nil
		case string:
			return str(v)
		}
		return nil, fmt.Errorf("%#v is not a mapping, list or text", v)
	}
	return conv(v)
}

// goTree is Parse's tree in decodePerl's form.
func goTree(n *Node) any {
	switch n.Kind {
	case Map:
		m := make(map[string]any, len(n.Keys))
		for i, k := range n.Keys {
			m[k] = goTree(n.Vals[i])
		}
		return m
	case List:
		l := make([]any, len(n.Items))
		for i, it := range n.Items {
			l[i] = goTree(it)
		}
		return l
	}
	return n.Text
}

// show writes a tree for a failure: JSON, keys sorted, texts quoted as Go
// does (so a byte that is not UTF-8 shows).
func show(v any) string {
	var b strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			b.WriteString("{")
			for i, k := range keys {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString(strconv.Quote(k) + ":")
				walk(v[k])
			}
			b.WriteString("}")
		case []any:
			b.WriteString("[")
			for i, x := range v {
				if i > 0 {
					b.WriteString(",")
				}
				walk(x)
			}
			b.WriteString("]")
		case string:
			b.WriteString(strconv.Quote(v))
		default:
			fmt.Fprintf(&b, "%#v", v)
		}
	}
	walk(v)
	return b.String()
}

// fuzzCorpus is the saved corpus of FuzzImport (testdata/fuzz/FuzzImport,
// where go test -fuzz keeps the inputs that failed), if any.
func fuzzCorpus(t *testing.T) [][]byte {
	t.Helper()
	files, err := filepath.Glob("testdata/fuzz/FuzzImport/*")
	if err != nil {
		t.Fatal(err)
	}
	var corpus [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) != 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
			t.Fatalf("%s: not a corpus file of FuzzImport (one []byte)", f)
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		corpus = append(corpus, []byte(s))
	}
	return corpus
}

// genConfig writes a small Config::Record file from the grammar's pieces:
// keys, bare, quoted, continued and here-document values, mappings and
// lists nested up to four deep, comments and blank lines, with blanks of
// every kind, CRLF lines, text that looks like syntax, and now and then
// a line out of place or a file cut short.
func genConfig(r *rand.Rand) []byte {
	g := &gen{r: r, eol: "\n"}
	if g.chance(0.2) {
		g.eol = "\r\n"
	}
	g.mapping(0)
	out := g.b.String()
	if g.chance(0.05) {
		lines := strings.SplitAfter(out, "\n")
		out = strings.Join(lines[:r.IntN(len(lines)+1)], "")
	}
	if g.chance(0.1) {
		out = strings.TrimSuffix(strings.TrimSuffix(out, "\n"), "\r")
	}
	return []byte(out)
}

type gen struct {
	r   *rand.Rand
	b   strings.Builder
	eol string
	n   int // keys made
}

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

func (g *gen) pick(s ...string) string { return s[g.r.IntN(len(s))] }

func (g *gen) line(s string) { g.b.WriteString(s + g.eol) }

// ws is a run of blanks, mostly plain ones; now and then a no-break
// space, which is no blank.
func (g *gen) ws() string {
	switch {
	case g.chance(0.6):
		return g.pick("", " ", " ")
	case g.chance(0.01):
		return "\u00a0"
	}
	return g.pick("  ", "\t", " \t ", "\v", "\f", "\r", " \r ", "\v\f\r\t ")
}

// text is a bare value: words, and text that looks like syntax.
func (g *gen) text() string {
	if g.chance(0.8) {
		return g.pick("x", "foo bar", "1", "0", "/srv/git", "a  b", "Café ☕", "x # not a comment", "http://h.example/?a=b", "-O2 -g")
	}
	return g.pick("b = c", `say "hi" now`, `back\slash`, "\u00a0nbsp\u00a0", "\u0085", "( a b )", "{}", "=", `"`, `""`, `"a" b "c"`, `"open`, "[x]", "%", "#", "EOF", "<<EOF x", "a=b", "\\\\", "x\v", "\ty")
}

// key is a fresh key of the mapping (keys), now and then one already
// there or one that is no key.
func (g *gen) key(keys *[]string) string {
	if len(*keys) > 0 && g.chance(0.02) {
		return (*keys)[g.r.IntN(len(*keys))]
	}
	if g.chance(0.01) {
		return g.pick("é", "a b", "a:b", `"q"`, "a/b")
	}
	g.n++
	k := g.pick("k", "log4perl.appender.Screen", "a-b", "_x", "9", "x.y", "Name", "-", ".") + strconv.Itoa(g.n)
	*keys = append(*keys, k)
	return k
}

// value writes the rest of a line that holds a value (after "key =" or
// at the start of a list item) and the lines that continue it.
func (g *gen) value(head string) {
	switch v := g.r.IntN(10); {
	case v < 4:
		g.line(head + g.text() + g.ws())
	case v < 6:
		c := ""
		if g.chance(0.3) {
			c = g.ws() + "# " + g.text()
		}
		g.line(head + `"` + g.pick("", " ", "  padded  ", "x", `a "q" b`, `\`) + g.text() + `"` + g.ws() + c)
	case v < 8:
		g.line(head + g.text() + g.ws() + `\` + g.ws())
		for more := g.r.IntN(3); ; more-- {
			if g.chance(0.2) {
				g.filler()
			}
			end := ""
			if more > 0 {
				end = g.ws() + `\` + g.ws()
			}
			if g.chance(0.3) {
				g.line(g.ws() + `"` + g.pick(" quoted ", "", "}") + `"` + end)
			} else {
				g.line(g.ws() + g.text() + end)
			}
			if more <= 0 {
				break
			}
		}
	default:
		word := g.pick("EOF", "END", "X_1", "z", "00")
		if g.chance(0.02) {
			word = "0"
		}
		g.line(head + "<<" + word + g.ws())
		for range g.r.IntN(4) {
			switch {
			case g.chance(0.15):
				g.filler()
			case g.chance(0.03):
				g.line(g.pick("not the end ", "<<", "x") + word + g.ws())
			default:
				g.line(g.pick("", "  ", "\t") + g.pick(g.text(), word+" is not the end", "  indented", "{", ")", "key = value", "<<"+word+" x"))
			}
		}
		g.line(g.ws() + word + g.ws())
	}
}

// filler is a comment or a blank line.
func (g *gen) filler() {
	if g.chance(0.5) {
		g.line(g.ws() + "#" + g.pick("", " a comment", " k = v", "#", " )"))
	} else {
		g.line(g.ws())
	}
}

// misplaced is a line out of place, now and then.
func (g *gen) misplaced() bool {
	if !g.chance(0.015) {
		return false
	}
	g.line(g.pick(")", "}", "just a value", "k0 = v", "{", "(", "<<EOF", "[% x %]", "caf\xe9", "\\"))
	return true
}

func (g *gen) comment() string {
	if g.chance(0.2) {
		return g.ws() + "# c"
	}
	return ""
}

func (g *gen) mapping(depth int) {
	var keys []string
	for range g.r.IntN(6) {
		if g.misplaced() {
			continue
		}
		if g.chance(0.15) {
			g.filler()
			continue
		}
		head := g.ws() + g.key(&keys) + g.ws() + "=" + g.ws()
		switch v := g.r.IntN(10); {
		case v < 2 && depth < 4:
			g.line(head + "{" + g.ws() + g.comment())
			g.mapping(depth + 1)
			g.line(g.ws() + "}" + g.ws() + g.comment())
		case v < 4 && depth < 4:
			g.line(head + "(" + g.ws() + g.comment())
			g.list(depth + 1)
			g.line(g.ws() + ")" + g.ws() + g.comment())
		default:
			g.value(head)
		}
	}
}

func (g *gen) list(depth int) {
	for range g.r.IntN(6) {
		if g.misplaced() {
			continue
		}
		if g.chance(0.15) {
			g.filler()
			continue
		}
		switch v := g.r.IntN(10); {
		case v < 1 && depth < 4:
			g.line(g.ws() + "{" + g.ws() + g.comment())
			g.mapping(depth + 1)
			g.line(g.ws() + "}" + g.ws() + g.comment())
		case v < 2 && depth < 4:
			g.line(g.ws() + "(" + g.ws() + g.comment())
			g.list(depth + 1)
			g.line(g.ws() + ")" + g.ws() + g.comment())
		default:
			g.value(g.ws())
		}
	}
}
