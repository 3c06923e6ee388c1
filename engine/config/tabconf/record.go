// Package tabconf imports a Test-AutoBuild configuration (auto-build.conf,
// in the Config::Record format) into an autobuild configuration.
//
// Parse reads Config::Record text into a tree of mappings, lists and
// text values, each with the line it was written on. Import translates
// the settings of Test-AutoBuild 1.0 and 1.2 into autobuild's YAML:
// repositories and each module's sources (several become sources:, each
// in a folder of its own), depends, env, groups, label, links, enabled,
// the control file; the global env, buildRoot, the site's address, the
// cache switch, the counter and the mail alerts (alerts.go). It names
// every setting it cannot carry over, with the reason, as a Note: the
// caller prints them, and the YAML holds them as comments where they
// belong. A value that matches what
// autobuild does anyway (features/checkout = 1, email_alerts = 0) is
// carried over by saying nothing. Import does not load its result: the
// import command loads it with engine/config before it writes it.
//
// # The Config::Record format
//
// The grammar is Config::Record 1.1's (the version Test-AutoBuild 1.2
// used), with none of its optional features (Test-AutoBuild enabled
// neither quoted keys nor @include). The file is read line by line; a
// blank is a space, tab, vertical tab, form feed or carriage return
// (Perl's \s on bytes), so the carriage return of a CRLF line is a
// trailing blank, kept only by a here-document's text:
//
//   - A blank line, or one whose first character that is not a blank is
//     #, is skipped: everywhere, inside a here-document too.
//   - "key = value" sets a text value. A key is letters, digits and
//     "_", "-" and "." (ASCII). The value is the rest of the line with
//     its blanks trimmed at both ends; a # in it is part of it.
//   - key = "value" keeps the blanks inside the quotes. There are no
//     escapes: a backslash or a quote inside is itself. A comment may
//     follow the closing quote.
//   - A value that ends with a backslash goes on, without a newline, on
//     the next line (itself trimmed, or "quoted"), and so on while lines
//     end with a backslash.
//   - "key = <<WORD" starts a here-document: the following lines, each
//     with its newline, up to a line that holds WORD alone (blanks
//     around it allowed).
//   - "key = {" opens a mapping, closed by "}" alone on its line;
//     "key = (" opens a list, closed by ")". A comment may follow each.
//   - Inside a list each line is one item: a value (bare, quoted, or
//     <<WORD), or "{" or "(" alone, opening a mapping or a list.
//
// The parser is strict where Config::Record was silent: a key defined
// twice in one mapping (Config::Record kept the last), a here-document
// or a continued line still open at the end of the file (it kept what it
// had read), text that is not UTF-8, a Template Toolkit directive ([% …
// %]: Test-AutoBuild ran the file through Template Toolkit first) and
// nesting deeper than MaxDepth are errors. Config::Record ended a
// here-document at any line ending with its word, and read <<0 as a
// value continued on the next line (0 is false in Perl): a line of a
// here-document that ends with its word without holding it alone, and
// the word 0, are errors too. (A bracket still open at the end of the
// file is an error in both.) Every error names the file and the line.
// Beside these, Parse reads what Config::Record 1.1.2 reads:
// TestParserAgreesWithConfigRecord runs Config::Record itself on the
// fixtures, the table tests and generated files, and compares.
package tabconf

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Kind is what a Node holds.
type Kind uint8

const (
	// Text is a value: Node.Text.
	Text Kind = iota
	// Map is a mapping: Node.Keys and Node.Vals, in file order.
	Map
	// List is a list: Node.Items.
	List
)

// Node is one value of a Config::Record file.
type Node struct {
	Kind Kind
	// Line is where the value was written: its key's line, or its own
	// line in a list.
	Line  int
	Text  string
	Keys  []string
	Vals  []*Node
	Items []*Node

	used  bool           // the translation carried it over (or named it)
	index map[string]int // a mapping's keys, as Parse made it
}

// Get returns the value of key in mapping n, or nil (also when n is nil
// or not a mapping).
func (n *Node) Get(key string) *Node {
	if n == nil || n.Kind != Map {
		return nil
	}
	if n.index != nil {
		if i, ok := n.index[key]; ok {
			return n.Vals[i]
		}
		return nil
	}
	for i, k := range n.Keys {
		if k == key {
			return n.Vals[i]
		}
	}
	return nil
}

func (n *Node) String() string {
	switch n.Kind {
	case Map:
		return "a mapping { … }"
	case List:
		return "a list ( … )"
	}
	return fmt.Sprintf("the text %q", n.Text)
}

// Error is a problem of the file at a line.
type Error struct {
	File string
	Line int
	// Setting is the setting's path (modules/foo/depends), when the
	// problem is one setting's.
	Setting string
	Msg     string
}

func (e *Error) Error() string {
	if e.Setting != "" {
		return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Setting, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// MaxDepth bounds the nesting of mappings and lists.
const MaxDepth = 1000

const label = `([A-Za-z0-9_.-]+)`

// blank is Perl's \s on bytes, as Config::Record matched it: Go's \s
// lacks the vertical tab, and strings.TrimSpace knows Unicode's blanks.
const (
	blank  = `[\t\n\v\f\r ]`
	blanks = " \t\n\v\f\r"
)

// re compiles a pattern written with \s standing for blank.
func re(pattern string) *regexp.Regexp {
	return regexp.MustCompile(strings.ReplaceAll(pattern, `\s`, blank))
}

var (
	reKeyList  = re(`^\s*` + label + `\s*=\s*\(\s*(?:#.*)?$`)
	reKeyMap   = re(`^\s*` + label + `\s*=\s*\{\s*(?:#.*)?$`)
	reKeyHere  = re(`^\s*` + label + `\s*=\s*<<(\w+)\s*$`)
	reKeyQuote = re(`^\s*` + label + `\s*=\s*"(.*)"\s*(\\)?\s*(?:#.*)?$`)
	reKeyText  = re(`^\s*` + label + `\s*=\s*(.*?)(\\)?\s*$`)
	reOpenList = re(`^\s*\(\s*(?:#.*)?$`)
	reOpenMap  = re(`^\s*\{\s*(?:#.*)?$`)
	reClose    = re(`^\s*([)}])\s*(?:#.*)?$`)
	reHere     = re(`^\s*<<(\w+)\s*$`)
	reQuote    = re(`^\s*"(.*)"\s*(\\)?\s*(?:#.*)?$`)
	reText     = re(`^\s*(.*?)(\\)?\s*$`)
	reMoreQ    = re(`^\s*"(.*?)"\s*(\\)?\s*$`)
	reMore     = re(`^\s*(.*?)\s*(\\)?\s*$`)
	reSkip     = re(`^\s*(#.*)?$`)
)

// Parse reads a Config::Record file; name is the file's name for errors.
// The result is the top mapping.
func Parse(name string, data []byte) (*Node, error) {
	p := &parser{file: name}
	root := &Node{Kind: Map, Line: 1}
	p.stack = []*Node{root}
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		p.line = i + 1
		if !utf8.ValidString(line) {
			return nil, p.errorf("not UTF-8 text (convert the file, e.g. with iconv -f latin1 -t utf8)")
		}
		if strings.Contains(line, "[%") {
			return nil, p.errorf("a Template Toolkit directive ([%% … %%]): Test-AutoBuild ran the file through Template Toolkit before reading it; import what it makes of it (tpage %s > plain.conf)", name)
		}
		if err := p.take(line); err != nil {
			return nil, err
		}
	}
	switch {
	case p.here != "":
		return nil, &Error{File: name, Line: p.hereLine, Msg: fmt.Sprintf("the here-document <<%s never ends: end it with a line holding %s alone", p.here, p.here)}
	case p.more != nil:
		return nil, &Error{File: name, Line: p.moreLine, Msg: "the line ends with a backslash, but the file ends: nothing continues it"}
	case len(p.stack) > 1:
		top := p.stack[len(p.stack)-1]
		closer := "}"
		if top.Kind == List {
			closer = ")"
		}
		return nil, &Error{File: name, Line: p.opened[len(p.opened)-1], Msg: fmt.Sprintf("%s opened here is never closed with %s", top, closer)}
	}
	return root, nil
}

type parser struct {
	file   string
	line   int
	stack  []*Node
	opened []int // the line each open bracket of stack[1:] was opened on

	// an open here-document: its word, where it started, its value
	here     string
	hereLine int
	// a value continued on the next line (a here-document's too)
	more     *Node
	moreLine int
}

func (p *parser) errorf(format string, args ...any) error {
	return &Error{File: p.file, Line: p.line, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) take(line string) error {
	if reSkip.MatchString(line) {
		return nil // Config::Record skips these even inside a here-document
	}
	if p.here != "" {
		end := strings.TrimRight(line, blanks)
		if strings.TrimLeft(end, blanks) == p.here {
			p.here, p.more = "", nil
			return nil
		}
		if strings.HasSuffix(end, p.here) {
			return p.errorf("the line ends with %s, the word of the here-document opened on line %d: Config::Record ends the here-document at any line ending with its word; end it with %s alone on a line, and choose a word no line of the text ends with", p.here, p.hereLine, p.here)
		}
		p.more.Text += line + "\n"
		return nil
	}
	if p.more != nil {
		m := reMoreQ.FindStringSubmatch(line)
		if m == nil {
			m = reMore.FindStringSubmatch(line)
		}
		p.more.Text += m[1]
		if m[2] == "" {
			p.more = nil
		}
		return nil
	}
	top := p.stack[len(p.stack)-1]
	inList := top.Kind == List
	keyed := func(key string, v *Node) error {
		if inList {
			return p.errorf("%q = … inside a list: a list holds values, one a line (write it inside { … } for a mapping)", key)
		}
		if j, dup := top.index[key]; dup {
			return p.errorf("%q is defined twice in this mapping (first on line %d)", key, top.Vals[j].Line)
		}
		if top.index == nil {
			top.index = map[string]int{}
		}
		top.index[key] = len(top.Keys)
		top.Keys = append(top.Keys, key)
		top.Vals = append(top.Vals, v)
		return nil
	}
	item := func(v *Node) error {
		if !inList {
			return p.errorf("%s without a key: a mapping holds key = value lines", describeLine(line))
		}
		top.Items = append(top.Items, v)
		return nil
	}
	open := func(v *Node) error {
		if len(p.stack) > MaxDepth {
			return p.errorf("mappings and lists nested more than %d deep", MaxDepth)
		}
		p.stack = append(p.stack, v)
		p.opened = append(p.opened, p.line)
		return nil
	}
	switch {
	case reKeyList.MatchString(line):
		v := &Node{Kind: List, Line: p.line}
		if err := keyed(reKeyList.FindStringSubmatch(line)[1], v); err != nil {
			return err
		}
		return open(v)
	case reKeyMap.MatchString(line):
		v := &Node{Kind: Map, Line: p.line}
		if err := keyed(reKeyMap.FindStringSubmatch(line)[1], v); err != nil {
			return err
		}
		return open(v)
	case reOpenList.MatchString(line), reOpenMap.MatchString(line):
		v := &Node{Kind: List, Line: p.line}
		if reOpenMap.MatchString(line) {
			v.Kind = Map
		}
		if !inList {
			return p.errorf("%s alone opens an item of a list, but this is inside a mapping: write key = %s", strings.TrimSpace(line)[:1], strings.TrimSpace(line)[:1])
		}
		top.Items = append(top.Items, v)
		return open(v)
	case reClose.MatchString(line):
		c := reClose.FindStringSubmatch(line)[1]
		if len(p.stack) == 1 {
			return p.errorf("%s closes nothing: no mapping or list is open", c)
		}
		if want := map[Kind]string{Map: "}", List: ")"}[top.Kind]; c != want {
			return p.errorf("%s, but %s opened on line %d is still open: close it with %s first", c, top, p.opened[len(p.opened)-1], want)
		}
		p.stack = p.stack[:len(p.stack)-1]
		p.opened = p.opened[:len(p.opened)-1]
		return nil
	case reKeyHere.MatchString(line):
		m := reKeyHere.FindStringSubmatch(line)
		v := &Node{Kind: Text, Line: p.line}
		if err := keyed(m[1], v); err != nil {
			return err
		}
		if m[2] == "0" {
			return p.errorf("%s", hereZero)
		}
		p.here, p.hereLine, p.more = m[2], p.line, v
		return nil
	case reKeyQuote.MatchString(line), reKeyText.MatchString(line):
		m := reKeyQuote.FindStringSubmatch(line)
		if m == nil {
			m = reKeyText.FindStringSubmatch(line)
		}
		v := &Node{Kind: Text, Line: p.line, Text: m[2]}
		if err := keyed(m[1], v); err != nil {
			return err
		}
		if m[3] != "" {
			p.more, p.moreLine = v, p.line
		}
		return nil
	case reHere.MatchString(line):
		v := &Node{Kind: Text, Line: p.line}
		if err := item(v); err != nil {
			return err
		}
		word := reHere.FindStringSubmatch(line)[1]
		if word == "0" {
			return p.errorf("%s", hereZero)
		}
		p.here, p.hereLine, p.more = word, p.line, v
		return nil
	}
	m := reQuote.FindStringSubmatch(line)
	if m == nil {
		m = reText.FindStringSubmatch(line)
	}
	v := &Node{Kind: Text, Line: p.line, Text: m[1]}
	if err := item(v); err != nil {
		return err
	}
	if m[2] != "" {
		p.more, p.moreLine = v, p.line
	}
	return nil
}

// hereZero is the error for <<0: Config::Record tests the word for
// truth, and "0" is false in Perl.
const hereZero = "<<0: Config::Record does not read a here-document whose word is 0 (it takes the next line as the value, as if the line ended with a backslash): choose another word"

// describeLine names a line that holds a value, for errors.
func describeLine(line string) string {
	s := strings.TrimSpace(line)
	if len(s) > 40 {
		s = s[:37] + "…"
	}
	return fmt.Sprintf("%q", s)
}
