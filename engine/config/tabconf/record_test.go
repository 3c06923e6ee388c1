package tabconf

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// dump writes a tree compactly: {k=v;…} for a mapping, (a,b) for a list,
// a text quoted, each value with @line.
func dump(n *Node) string {
	switch n.Kind {
	case Map:
		var s []string
		for i, k := range n.Keys {
			s = append(s, k+"="+dump(n.Vals[i]))
		}
		return fmt.Sprintf("{%s}@%d", strings.Join(s, ";"), n.Line)
	case List:
		var s []string
		for _, it := range n.Items {
			s = append(s, dump(it))
		}
		return fmt.Sprintf("(%s)@%d", strings.Join(s, ","), n.Line)
	}
	return fmt.Sprintf("%q@%d", n.Text, n.Line)
}

// parseCases are files Parse reads, with the tree it reads (in dump's
// form). TestParserAgreesWithConfigRecord reads each with Config::Record
// too.
var parseCases = []struct {
	name, in, want string
}{
	{"empty", "", `{}@1`},
	{"comments and blanks", "# a comment\n\n   # indented\n\t\n", `{}@1`},
	{"plain", "name = Foo\n", `{name="Foo"@1}@1`},
	{"no blanks around =", "name=Foo", `{name="Foo"@1}@1`},
	{"trimmed", "  name   =   Foo bar  \t\n", `{name="Foo bar"@1}@1`},
	{"empty value", "httpPrefix  =\n", `{httpPrefix=""@1}@1`},
	{"a # in a bare value is the value's", "a = x # not a comment\n", `{a="x # not a comment"@1}@1`},
	{"key characters", "log4perl.appender.Screen-x_1 = y\n", `{log4perl.appender.Screen-x_1="y"@1}@1`},
	{"more = in the value", "a = b = c\n", `{a="b = c"@1}@1`},
	{"quoted keeps blanks", `title = "  Wizz  "`, `{title="  Wizz  "@1}@1`},
	{"quoted then comment", `title = "x" # note`, `{title="x"@1}@1`},
	{"no escapes inside quotes", `a = "back\slash \"q\""`, `{a="back\\slash \\\"q\\\""@1}@1`},
	{"quotes inside a bare value", `a = say "hi" now`, `{a="say \"hi\" now"@1}@1`},
	{"continued", "label = This is a long \\\n        line of text\n", `{label="This is a long line of text"@1}@1`},
	{"continued quoted", "label = \"First string \" \\\n  \"split across\"\n", `{label="First string split across"@1}@1`},
	{"continued thrice", "a = one\\\n two\\\n three\n", `{a="onetwothree"@1}@1`},
	{"continuation skips comments", "a = one \\\n# c\n\n two\n", `{a="one two"@1}@1`},
	{"here-document", "d = <<EOF\nline one\n  indented\nEOF\nx = y\n", `{d="line one\n  indented\n"@1;x="y"@5}@1`},
	{"here-document drops blank and # lines", "d = <<END\na\n\n# b\nc\n  END  \n", `{d="a\nc\n"@1}@1`},
	{"here-document word not at a line's end", "d = <<EOF\nEOF is not at the end\n\t EOF \t\n", `{d="EOF is not at the end\n"@1}@1`},
	{"here-document end: a no-break space is not a blank", "d = <<EOF\nx\nEOF\u00a0\nEOF\n", `{d="x\nEOF\u00a0\n"@1}@1`},
	{"here-document keeps a CR", "d = <<EOF\r\nx\r\n\r\nEOF\r\n", `{d="x\r\n"@1}@1`},
	{"here-document word 00", "d = <<00\nx\n00\n", `{d="x\n"@1}@1`},
	{"mapping", "w = {\n  foo = \"Elk\"\n  ooh = fds\n}\n", `{w={foo="Elk"@2;ooh="fds"@3}@1}@1`},
	{"list", "eek = ( # an array\n  OOhh\n  \" Aahhh \"\n  Wizz \\\n  Bang\n)\n", `{eek=("OOhh"@2," Aahhh "@3,"Wizz Bang"@4)@1}@1`},
	{"list here-document", "l = (\n  <<EOF\nA long paragraph\nEOF\n)\n", `{l=("A long paragraph\n"@2)@1}@1`},
	{"list of mappings", "people = (\n {\n  forename = John\n }\n {\n  forename = Some\n }\n)\n", `{people=({forename="John"@3}@2,{forename="Some"@6}@5)@1}@1`},
	{"list of lists", "a = (\n (\n  sub1\n )\n (\n )\n)\n", `{a=(("sub1"@3)@2,()@5)@1}@1`},
	{"deep", "a = {\n b = {\n  c = (\n   {\n    d = e\n   }\n  )\n }\n}\n", `{a={b={c=({d="e"@5}@4)@3}@2}@1}@1`},
	{"a one-line bracket is text", "g = ( a b )\nh = {}\n", `{g="( a b )"@1;h="{}"@2}@1`},
	{"CRLF", "a = b\r\nc = {\r\n d = \"e \"\r\n}\r\n", `{a="b"@1;c={d="e "@3}@2}@1`},
	{"list value looks like a URL", "l = (\n  http://x.example/?a=b\n)\n", `{l=("http://x.example/?a=b"@2)@1}@1`},
	{"unicode", "label = Café ☕\n", `{label="Café ☕"@1}@1`},
	{"vertical tab and form feed are blanks", "a\v=\fb\v\n\v\f\nl = (\v\n\f)\v\n", `{a="b"@1;l=()@3}@1`},
	{"no-break space is not a blank", "a = \u00a0x\u00a0\n", `{a="\u00a0x\u00a0"@1}@1`},
}

func TestParse(t *testing.T) {
	for _, tt := range parseCases {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Parse("a.conf", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := dump(n); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// parseErrorCases are files Parse refuses, with the line and the
// problem it names. TestParserAgreesWithConfigRecord reads each with
// Config::Record: it refuses them too, or the problem is one of
// deliberateStrictness.
var parseErrorCases = []struct {
	name, in string
	line     int
	want     string
}{
	{"key twice", "a = 1\nb = 2\na = 3\n", 3, `"a" is defined twice in this mapping (first on line 1)`},
	{"key twice nested", "m = {\n x = {\n }\n x = (\n )\n}\n", 4, `"x" is defined twice in this mapping (first on line 2)`},
	{"value in a mapping", "a = 1\njust a value\n", 2, `"just a value" without a key`},
	{"key in a list", "l = (\n a = b\n)\n", 2, `"a" = … inside a list`},
	{"KEY=VALUE in a list", "l = (\n CFLAGS=-O2\n)\n", 2, `"CFLAGS" = … inside a list`},
	{"keyed list in a list", "l = (\n m = (\n )\n)\n", 2, "inside a list"},
	{"bare { in a mapping", "m = {\n {\n }\n}\n", 2, "{ alone opens an item of a list"},
	{"wrong closer", "l = (\n a\n}\n", 3, "}, but a list ( … ) opened on line 1 is still open"},
	{"closes nothing", "a = b\n)\n", 2, ") closes nothing"},
	{"never closed", "a = {\n b = c\n d = (\n e\n", 3, "a list ( … ) opened here is never closed with )"},
	{"outer never closed", "a = {\n b = (\n )\n", 1, "a mapping { … } opened here is never closed with }"},
	{"here-document never ends", "x = 1\nd = <<EOF\nline\n", 2, "the here-document <<EOF never ends"},
	{"continued at the end", "a = b\nc = d \\\n", 2, "ends with a backslash, but the file ends"},
	{"template directive", "a = b\nbuildRoot = [% config.root %]\n", 2, "Template Toolkit directive"},
	{"template directive in a comment", "# [% IF x %]\n", 1, "Template Toolkit directive"},
	{"latin-1", "a = b\nlabel = Caf\xe9\n", 2, "not UTF-8"},
	{"too deep", "a = (\n" + strings.Repeat("(\n", MaxDepth), MaxDepth + 1, "nested more than"},
	{"here-document line ends with the word", "l = (\n <<EOF\nnot EOF \nEOF\n)\n", 3, "ends with EOF, the word of the here-document opened on line 2"},
	{"here-document line ends with the word glued", "d = <<END\nBACKEND\nEND\n", 2, "ends with END"},
	{"here-document word 0", "d = <<0\nx\n0\n", 1, "<<0: Config::Record does not read"},
	{"here-document word 0 in a list", "l = (\n  <<0\n  x\n)\n", 2, "<<0"},
}

func TestParseErrors(t *testing.T) {
	for _, tt := range parseErrorCases {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("dir/a.conf", []byte(tt.in))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want an *Error", err)
			}
			if e.File != "dir/a.conf" || e.Line != tt.line || !strings.Contains(e.Msg, tt.want) {
				t.Errorf("got %q (line %d), want line %d and %q", err, e.Line, tt.line, tt.want)
			}
			if !strings.HasPrefix(err.Error(), fmt.Sprintf("dir/a.conf:%d: ", tt.line)) {
				t.Errorf("%q does not start with file:line", err)
			}
		})
	}
}

// A nesting as deep as the bound parses, and a long file of lines is
// read in one pass (no recursion in the parser).
func TestParseDeepAndLong(t *testing.T) {
	var b strings.Builder
	b.WriteString("a = (\n")
	for range MaxDepth - 1 {
		b.WriteString("(\n")
	}
	for range MaxDepth {
		b.WriteString(")\n")
	}
	if _, err := Parse("a.conf", []byte(b.String())); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	b.WriteString("l = (\n")
	for i := range 100000 {
		fmt.Fprintf(&b, "item%d\n", i)
	}
	b.WriteString(")\n")
	n, err := Parse("a.conf", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if l := n.Get("l"); len(l.Items) != 100000 || l.Items[99999].Line != 100001 {
		t.Errorf("%d items", len(l.Items))
	}
}
