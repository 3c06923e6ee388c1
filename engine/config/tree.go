package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
	"go.yaml.in/yaml/v3"
)

// A node is one value of the configuration file as written, in any of its
// formats: a mapping (keys in file order, case kept), a list or a scalar,
// with the line it starts on.
type node struct {
	kind kind
	line int

	// mapping
	keys     []string
	keyLines []int
	vals     []*node
	// list
	items []*node
	// scalar
	typ  scalarType
	text string // as written (a TOML value formatted)
	i    int64  // typ == tInt
	b    bool   // typ == tBool
	env  string // the environment variable the value comes from
}

type kind uint8

const (
	scalarNode kind = iota
	mapNode
	seqNode
)

type scalarType uint8

const (
	tString scalarType = iota
	tInt
	tFloat // any number that is not a whole number in range
	tBool
	tNull
	tOther // a TOML date or time, a YAML !!binary or custom tag
)

// maxDepth bounds the nesting of a file (yaml.v3 has the same bound).
const maxDepth = 10000

// describe says what n is, for "must be …, not <describe>".
func (n *node) describe() string {
	switch {
	case n.kind == mapNode:
		return "a mapping"
	case n.kind == seqNode:
		return "a list"
	case n.env != "":
		return strconv.Quote(n.text)
	}
	switch n.typ {
	case tInt, tFloat:
		return "the number " + n.text
	case tBool:
		return "the boolean " + n.text
	case tNull:
		return "null"
	case tString:
		return strconv.Quote(n.text)
	}
	return n.text
}

// set makes key's value v in mapping n, replacing the one there.
func (n *node) set(key string, v *node) {
	if i := slices.Index(n.keys, key); i >= 0 {
		n.vals[i] = v
		return
	}
	n.keys = append(n.keys, key)
	n.keyLines = append(n.keyLines, 0)
	n.vals = append(n.vals, v)
}

// lineIndex turns byte offsets into line numbers.
type lineIndex []int // offsets of '\n'

func newLineIndex(b []byte) lineIndex {
	var nl lineIndex
	for i, c := range b {
		if c == '\n' {
			nl = append(nl, i)
		}
	}
	return nl
}

func (x lineIndex) line(off int) int { return sort.SearchInts(x, off) + 1 }

// last is the line of the end of the file.
func (x lineIndex) last(size int) int { return x.line(size) }

// parseError is a syntax error of the file, at a line (never 0).
type parseError struct {
	line int
	msg  string
}

func (e *parseError) Error() string { return e.msg }

// parse reads raw in format ("yaml", "toml" or "json"). A nil node is an
// empty file.
func parse(format string, raw []byte) (n *node, err error) {
	// The parsers are third-party code reading untrusted text: whatever
	// they do with it is a syntax error of the file, never a crash.
	defer func() {
		if r := recover(); r != nil {
			n, err = nil, &parseError{line: firstSuspect(raw), msg: fmt.Sprintf("invalid %s: cannot parse (%v)", strings.ToUpper(format), r)}
		}
	}()
	switch format {
	case "toml":
		return parseTOML(raw)
	case "json":
		return parseJSON(raw)
	default:
		return parseYAML(raw)
	}
}

// firstSuspect is the line of the first byte no configuration file
// should hold (invalid UTF-8, a control character), else 1: where a
// parser that names no line most likely stopped.
func firstSuspect(raw []byte) int {
	for off := 0; off < len(raw); {
		r, size := utf8.DecodeRune(raw[off:])
		if (r == utf8.RuneError && size <= 1) || (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7f || r == 0xfeff && off > 0 || r == 0xfffe || r == 0xffff {
			return bytes.Count(raw[:off], []byte{'\n'}) + 1
		}
		off += size
	}
	return 1
}

// --- YAML

func parseYAML(raw []byte) (*node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, yamlError(err, raw)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	// Aliases may expand a small file into a huge tree: a document gets
	// a few values per byte, and no more.
	c := &yamlConv{budget: 4*len(raw) + 10000}
	return c.conv(doc.Content[0], 0)
}

// yamlError turns a yaml.v3 error into a parseError with its line: yaml.v3
// says "yaml: line N: …", or names no line (then the first suspect byte's).
func yamlError(err error, raw []byte) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if after, ok := strings.CutPrefix(msg, "line "); ok {
		n, rest, _ := strings.Cut(after, ":")
		if v, err := strconv.Atoi(n); err == nil {
			line, msg = v, strings.TrimSpace(rest)
		}
	}
	if line < 1 {
		line = firstSuspect(raw)
	}
	return &parseError{line: line, msg: "invalid YAML: " + msg}
}

type yamlConv struct{ budget int }

func (c *yamlConv) conv(y *yaml.Node, depth int) (*node, error) {
	if c.budget--; c.budget < 0 {
		return nil, &parseError{line: y.Line, msg: "invalid YAML: its aliases expand to too many values"}
	}
	if depth > maxDepth {
		return nil, &parseError{line: y.Line, msg: "invalid YAML: nested too deeply"}
	}
	line := max(y.Line, 1)
	switch y.Kind {
	case yaml.AliasNode:
		if y.Alias == nil {
			return nil, &parseError{line: line, msg: "invalid YAML: unknown alias"}
		}
		n, err := c.conv(y.Alias, depth+1)
		if err != nil {
			return nil, err
		}
		// The value is where the alias is, for errors about it.
		cp := *n
		cp.line = line
		return &cp, nil
	case yaml.DocumentNode:
		if len(y.Content) == 0 {
			return &node{kind: scalarNode, typ: tNull, line: line}, nil
		}
		return c.conv(y.Content[0], depth+1)
	case yaml.SequenceNode:
		n := &node{kind: seqNode, line: line, items: make([]*node, 0, len(y.Content))}
		for _, item := range y.Content {
			v, err := c.conv(item, depth+1)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, v)
		}
		return n, nil
	case yaml.MappingNode:
		return c.mapping(y, depth)
	case yaml.ScalarNode:
		return yamlScalar(y, line), nil
	}
	return nil, &parseError{line: line, msg: "invalid YAML: unexpected node"}
}

func yamlScalar(y *yaml.Node, line int) *node {
	n := &node{kind: scalarNode, line: line, text: y.Value}
	switch y.ShortTag() {
	case "!!str", "!!timestamp":
		// A date as text is what it says: a tag or branch named 2024-01-01.
		n.typ = tString
	case "!!int":
		n.typ = tFloat
		if y.Decode(&n.i) == nil {
			n.typ = tInt
		}
	case "!!float":
		n.typ = tFloat
	case "!!bool":
		n.typ = tBool
		_ = y.Decode(&n.b)
	case "!!null":
		n.typ = tNull
	default:
		n.typ = tOther
		n.text = y.ShortTag() + " " + y.Value
	}
	return n
}

// mapping converts a YAML mapping. Keys are unique; a merge key (<<: *x)
// adds the keys of x that the mapping does not set itself.
func (c *yamlConv) mapping(y *yaml.Node, depth int) (*node, error) {
	n := &node{kind: mapNode, line: max(y.Line, 1)}
	first := map[string]int{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(y.Content); i += 2 {
		k, v := y.Content[i], y.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			return nil, &parseError{line: max(k.Line, 1), msg: "invalid YAML: a key must be a plain name, not a list or a mapping"}
		}
		if k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if at, dup := first[k.Value]; dup {
			return nil, &parseError{line: max(k.Line, 1), msg: fmt.Sprintf("invalid YAML: key %q is defined twice (first on line %d)", k.Value, at)}
		}
		first[k.Value] = max(k.Line, 1)
		val, err := c.conv(v, depth+1)
		if err != nil {
			return nil, err
		}
		n.keys = append(n.keys, k.Value)
		n.keyLines = append(n.keyLines, max(k.Line, 1))
		n.vals = append(n.vals, val)
	}
	for _, m := range merges {
		src, err := c.conv(m, depth+1)
		if err != nil {
			return nil, err
		}
		var maps []*node
		switch src.kind {
		case mapNode:
			maps = []*node{src}
		case seqNode:
			maps = src.items
		}
		for _, sm := range maps {
			if sm.kind != mapNode {
				return nil, &parseError{line: src.line, msg: "invalid YAML: << must merge a mapping or a list of mappings"}
			}
			for j, key := range sm.keys {
				if _, set := first[key]; set {
					continue
				}
				first[key] = sm.keyLines[j]
				n.keys = append(n.keys, key)
				n.keyLines = append(n.keyLines, src.line)
				n.vals = append(n.vals, sm.vals[j])
			}
		}
		if len(maps) == 0 {
			return nil, &parseError{line: src.line, msg: "invalid YAML: << must merge a mapping or a list of mappings"}
		}
	}
	return n, nil
}

// --- JSON

func parseJSON(raw []byte) (*node, error) {
	c := &jsonConv{dec: json.NewDecoder(bytes.NewReader(raw)), raw: raw, lines: newLineIndex(raw), size: len(raw)}
	c.dec.UseNumber()
	tok, err := c.token()
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	n, err := c.value(tok, 0)
	if err != nil {
		return nil, err
	}
	if _, err := c.token(); err != io.EOF {
		if err == nil {
			err = c.fail("invalid JSON: more after the top-level value")
		}
		return nil, err
	}
	return n, nil
}

type jsonConv struct {
	dec   *json.Decoder
	raw   []byte
	lines lineIndex
	size  int
}

// here is the line of the token just read.
func (c *jsonConv) here() int { return c.lines.line(max(int(c.dec.InputOffset())-1, 0)) }

func (c *jsonConv) fail(msg string) error { return &parseError{line: c.here(), msg: msg} }

func (c *jsonConv) token() (json.Token, error) {
	tok, err := c.dec.Token()
	if err == nil || err == io.EOF {
		return tok, err
	}
	line := c.lines.last(c.size)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// The offset is where the bad token starts, or the blank before it.
		off := int(se.Offset)
		for off < len(c.raw) && strings.IndexByte(" \t\r\n", c.raw[off]) >= 0 {
			off++
		}
		line = c.lines.line(off)
	}
	msg := err.Error()
	if err == io.ErrUnexpectedEOF {
		msg = "the file ends inside a value"
	}
	return nil, &parseError{line: line, msg: "invalid JSON: " + msg}
}

// next is token where the file must go on.
func (c *jsonConv) next() (json.Token, error) {
	tok, err := c.token()
	if err == io.EOF {
		return nil, &parseError{line: c.lines.last(c.size), msg: "invalid JSON: the file ends inside a value"}
	}
	return tok, err
}

func (c *jsonConv) value(tok json.Token, depth int) (*node, error) {
	line := c.here()
	if depth > maxDepth {
		return nil, c.fail("invalid JSON: nested too deeply")
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &node{kind: mapNode, line: line}
			first := map[string]int{}
			for c.dec.More() {
				kt, err := c.next()
				if err != nil {
					return nil, err
				}
				key, ok := kt.(string)
				if !ok {
					return nil, c.fail("invalid JSON: a key must be a string")
				}
				kl := c.here()
				if at, dup := first[key]; dup {
					return nil, c.fail(fmt.Sprintf("invalid JSON: key %q is defined twice (first on line %d)", key, at))
				}
				first[key] = kl
				vt, err := c.next()
				if err != nil {
					return nil, err
				}
				v, err := c.value(vt, depth+1)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, key)
				n.keyLines = append(n.keyLines, kl)
				n.vals = append(n.vals, v)
			}
			if _, err := c.next(); err != nil { // }
				return nil, err
			}
			return n, nil
		case '[':
			n := &node{kind: seqNode, line: line}
			for c.dec.More() {
				it, err := c.next()
				if err != nil {
					return nil, err
				}
				v, err := c.value(it, depth+1)
				if err != nil {
					return nil, err
				}
				n.items = append(n.items, v)
			}
			if _, err := c.next(); err != nil { // ]
				return nil, err
			}
			return n, nil
		}
		return nil, c.fail(fmt.Sprintf("invalid JSON: unexpected %q", rune(t)))
	case string:
		return &node{kind: scalarNode, line: line, typ: tString, text: t}, nil
	case json.Number:
		n := &node{kind: scalarNode, line: line, typ: tFloat, text: t.String()}
		if i, err := strconv.ParseInt(t.String(), 10, 64); err == nil {
			n.typ, n.i = tInt, i
		}
		return n, nil
	case bool:
		return &node{kind: scalarNode, line: line, typ: tBool, b: t, text: strconv.FormatBool(t)}, nil
	case nil:
		return &node{kind: scalarNode, line: line, typ: tNull, text: "null"}, nil
	}
	return nil, c.fail("invalid JSON: unexpected token")
}

// --- TOML

// parseTOML decodes raw with go-toml (which owns TOML's rules: tables,
// arrays of tables, dotted keys, redefinitions) and gives each value the
// line of its key, found by walking go-toml's syntax tree the same way.
func parseTOML(raw []byte) (*node, error) {
	// go-toml's parser recurses once per nested array or inline table,
	// without a bound: a deep enough file would overflow the stack, which
	// no recover catches. The nesting is measured first.
	if line := tomlTooDeep(raw, maxDepth); line > 0 {
		return nil, &parseError{line: line, msg: fmt.Sprintf("invalid TOML: arrays and tables nested more than %d deep", maxDepth)}
	}
	var doc map[string]any
	if err := toml.Unmarshal(raw, &doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, _ := de.Position()
			return nil, &parseError{line: max(row, 1), msg: "invalid TOML: " + strings.TrimPrefix(de.Error(), "toml: ")}
		}
		return nil, &parseError{line: tomlErrorLine(raw), msg: "invalid TOML: " + strings.TrimPrefix(err.Error(), "toml: ")}
	}
	lines, err := tomlLines(raw)
	if err != nil {
		return nil, err
	}
	return tomlConv(doc, "", 1, lines, 0)
}

// tomlTooDeep returns the line where the nesting of arrays and tables in
// raw goes beyond limit, or 0. Strings and comments are skipped as TOML
// reads them (a bracket in a string nests nothing; a multi-line string's
// closing quotes may be followed by two more of its content), so that no
// nesting hides from the count; table headers count too, which only adds.
func tomlTooDeep(raw []byte, limit int) int {
	depth, line := 0, 1
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '\n':
			line++
		case '#':
			for i+1 < len(raw) && raw[i+1] != '\n' {
				i++
			}
		case '"', '\'':
			end := tomlStringEnd(raw, i)
			line += bytes.Count(raw[i:end], []byte{'\n'})
			i = end - 1
		case '[', '{':
			if depth++; depth > limit {
				return line
			}
		case ']', '}':
			depth = max(depth-1, 0)
		}
	}
	return 0
}

// tomlStringEnd returns where the string starting at raw[i] (a quote)
// ends: after its closing quotes, at the end of the line for an
// unterminated single-line string, or at the end of raw.
func tomlStringEnd(raw []byte, i int) int {
	q := raw[i]
	escapes := q == '"'
	if i+2 < len(raw) && raw[i+1] == q && raw[i+2] == q { // multi-line
		for j := i + 3; j < len(raw); j++ {
			switch {
			case escapes && raw[j] == '\\':
				j++
			case raw[j] == q && j+2 < len(raw) && raw[j+1] == q && raw[j+2] == q:
				// Up to two more quotes are the string's own.
				n := 3
				for n < 5 && j+n < len(raw) && raw[j+n] == q {
					n++
				}
				return j + n
			}
		}
		return len(raw)
	}
	for j := i + 1; j < len(raw); j++ {
		switch {
		case raw[j] == '\n':
			return j
		case raw[j] == q:
			return j + 1
		case escapes && raw[j] == '\\' && j+1 < len(raw) && raw[j+1] != '\n':
			j++
		}
	}
	return len(raw)
}

// tomlErrorLine is the line of an error go-toml reports without one (a
// key defined twice): the first top-level expression (a key, a table
// header) such that the file up to its end does not decode. Whether a
// prefix of whole expressions decodes changes only once, so a binary
// search finds it.
func tomlErrorLine(raw []byte) int {
	idx := newLineIndex(raw)
	var starts []int // the line each expression starts on
	var p unstable.Parser
	p.Reset(raw)
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.KeyValue, unstable.Table, unstable.ArrayTable:
			it := e.Key()
			if it.Next() && it.Node().Raw.Length > 0 {
				starts = append(starts, idx.line(int(it.Node().Raw.Offset)))
			}
		}
	}
	lineStart := func(line int) int {
		if line < 2 {
			return 0
		}
		return idx[line-2] + 1
	}
	i := sort.Search(len(starts), func(i int) bool {
		end := len(raw)
		if i+1 < len(starts) {
			end = lineStart(starts[i+1])
		}
		var m map[string]any
		return toml.Unmarshal(raw[:end], &m) != nil
	})
	if i < len(starts) {
		return starts[i]
	}
	return firstSuspect(raw)
}

// tomlLines maps the dotted key of every key, table and array element of a
// valid TOML document ("modules[2].source.url", as the decoder names
// them) to the line where it is first defined.
func tomlLines(raw []byte) (map[string]int, error) {
	idx := newLineIndex(raw)
	lines := map[string]int{}
	arrays := map[string]int{} // an array of tables: how many elements so far
	lineOf := func(n *unstable.Node) int {
		if n == nil || n.Raw.Length == 0 {
			return 0
		}
		return idx.line(int(n.Raw.Offset))
	}
	note := func(path string, line int) {
		if _, ok := lines[path]; !ok && line > 0 {
			lines[path] = line
		}
	}
	// walk a key's parts from base; an array of tables stands for its
	// last element.
	walk := func(base string, it unstable.Iterator, arrayLast bool) (path string, line int) {
		path = base
		for it.Next() {
			k := it.Node()
			line = lineOf(k)
			path = join(path, string(k.Data))
			note(path, line)
			if n, ok := arrays[path]; ok && !(arrayLast && it.IsLast()) {
				path = fmt.Sprintf("%s[%d]", path, n-1)
			}
		}
		return path, line
	}
	var value func(v *unstable.Node, path string, line int, depth int)
	value = func(v *unstable.Node, path string, line int, depth int) {
		if depth > maxDepth {
			return
		}
		switch v.Kind {
		case unstable.InlineTable:
			it := v.Children()
			for it.Next() {
				kv := it.Node()
				p, l := walk(path, kv.Key(), false)
				value(kv.Value(), p, l, depth+1)
			}
		case unstable.Array:
			it := v.Children()
			for i := 0; it.Next(); i++ {
				p := fmt.Sprintf("%s[%d]", path, i)
				l := lineOf(it.Node())
				if l == 0 {
					l = line
				}
				note(p, l)
				value(it.Node(), p, l, depth+1)
			}
		}
	}
	var p unstable.Parser
	p.Reset(raw)
	table := ""
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table:
			table, _ = walk("", e.Key(), false)
		case unstable.ArrayTable:
			path, line := walk("", e.Key(), true)
			arrays[path]++
			table = fmt.Sprintf("%s[%d]", path, arrays[path]-1)
			note(table, line)
		case unstable.KeyValue:
			path, line := walk(table, e.Key(), false)
			value(e.Value(), path, line, 0)
		}
	}
	if err := p.Error(); err != nil {
		// toml.Unmarshal took the file: this parser should too.
		return nil, &parseError{line: firstSuspect(raw), msg: "invalid TOML: " + strings.TrimPrefix(err.Error(), "toml: ")}
	}
	return lines, nil
}

func tomlConv(v any, path string, line int, lines map[string]int, depth int) (*node, error) {
	if l, ok := lines[path]; ok {
		line = l
	}
	if depth > maxDepth {
		return nil, &parseError{line: line, msg: "invalid TOML: nested too deeply"}
	}
	switch t := v.(type) {
	case map[string]any:
		n := &node{kind: mapNode, line: line}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		// File order: by the line each key is defined on.
		lineOf := func(k string) int {
			if l, ok := lines[join(path, k)]; ok {
				return l
			}
			return line
		}
		sort.Slice(keys, func(i, j int) bool {
			li, lj := lineOf(keys[i]), lineOf(keys[j])
			return li < lj || li == lj && keys[i] < keys[j]
		})
		for _, k := range keys {
			val, err := tomlConv(t[k], join(path, k), lineOf(k), lines, depth+1)
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, k)
			n.keyLines = append(n.keyLines, lineOf(k))
			n.vals = append(n.vals, val)
		}
		return n, nil
	case []any:
		n := &node{kind: seqNode, line: line}
		for i, item := range t {
			val, err := tomlConv(item, fmt.Sprintf("%s[%d]", path, i), line, lines, depth+1)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, val)
		}
		return n, nil
	case string:
		return &node{kind: scalarNode, line: line, typ: tString, text: t}, nil
	case int64:
		return &node{kind: scalarNode, line: line, typ: tInt, i: t, text: strconv.FormatInt(t, 10)}, nil
	case float64:
		return &node{kind: scalarNode, line: line, typ: tFloat, text: strconv.FormatFloat(t, 'g', -1, 64)}, nil
	case bool:
		return &node{kind: scalarNode, line: line, typ: tBool, b: t, text: strconv.FormatBool(t)}, nil
	case time.Time, toml.LocalDate, toml.LocalTime, toml.LocalDateTime:
		return &node{kind: scalarNode, line: line, typ: tOther, text: "the date " + fmt.Sprint(t)}, nil
	}
	return &node{kind: scalarNode, line: line, typ: tOther, text: fmt.Sprint(v)}, nil
}
