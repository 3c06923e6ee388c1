package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The Config types are the schema: a struct's keys are its fields' config
// tags, a map[string]T is a mapping of names, a slice is a list. Decoding
// converts nothing: a value of the wrong type is an error that says what
// to write instead.

var durationType = reflect.TypeFor[time.Duration]()

// fields are a struct type's keys, in declaration order, and their
// field indexes.
type fields struct {
	names []string
	index map[string]int
}

var fieldCache sync.Map // reflect.Type → *fields

func fieldsOf(t reflect.Type) *fields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*fields)
	}
	f := &fields{index: map[string]int{}}
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("config")
		if tag == "" || tag == "-" {
			continue
		}
		f.names = append(f.names, tag)
		f.index[tag] = i
	}
	fieldCache.Store(t, f)
	return f
}

// decode sets v from n; key is n's dotted key ("modules[2].source"). It
// records the line of every key it meets and the order of every mapping
// of names.
func (l *loader) decode(n *node, v reflect.Value, key string) error {
	if n.kind == scalarNode && n.typ == tNull && n.env == "" {
		return nil // written but empty: the default stays
	}
	t := v.Type()
	if t == durationType {
		d, err := l.duration(n, key)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		// An optional value: nil when the file does not set it.
		p := reflect.New(t.Elem())
		if err := l.decode(n, p.Elem(), key); err != nil {
			return err
		}
		v.Set(p)
	case reflect.Struct:
		f := fieldsOf(t)
		if n.kind != mapNode {
			return l.valueErr(n, key, "must be a mapping of keys (%s), not %s", strings.Join(f.names, ", "), n.describe())
		}
		for i, k := range n.keys {
			sub := join(key, k)
			l.note(sub, n.keyLines[i])
			fi, ok := f.index[k]
			if !ok {
				return &Error{File: l.file, Key: sub, Line: l.lineOf(sub), Msg: fmt.Sprintf("unknown key (known here: %s)", strings.Join(f.names, ", "))}
			}
			if err := l.decode(n.vals[i], v.Field(fi), sub); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.kind != mapNode {
			return l.valueErr(n, key, "must be a mapping of names, not %s", n.describe())
		}
		m := reflect.MakeMapWithSize(t, len(n.keys))
		for i, k := range n.keys {
			sub := key + "." + k
			l.note(sub, n.keyLines[i])
			elem := reflect.New(t.Elem()).Elem()
			if err := l.decode(n.vals[i], elem, sub); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(k), elem)
		}
		v.Set(m)
		l.order[key] = n.keys
	case reflect.Slice:
		if n.kind != seqNode {
			return l.valueErr(n, key, "must be a list, not %s", n.describe())
		}
		s := reflect.MakeSlice(t, len(n.items), len(n.items))
		for i, item := range n.items {
			sub := key + "[" + strconv.Itoa(i) + "]"
			l.note(sub, item.line)
			if err := l.decode(item, s.Index(i), sub); err != nil {
				return err
			}
		}
		v.Set(s)
	case reflect.String:
		if n.kind != scalarNode || (n.typ != tString && n.env == "") {
			if n.kind == scalarNode && n.typ != tOther {
				return l.valueErr(n, key, "must be a string, not %s: quote it: %s", n.describe(), l.example(key, strconv.Quote(n.text)))
			}
			return l.valueErr(n, key, "must be a string, not %s", n.describe())
		}
		v.SetString(n.text)
	case reflect.Int:
		i, ok := n.i, n.kind == scalarNode && n.typ == tInt
		if n.env != "" {
			x, err := strconv.ParseInt(n.text, 10, 64)
			i, ok = x, err == nil
		}
		if !ok || int64(int(i)) != i {
			return l.valueErr(n, key, "must be a whole number, not %s", n.describe())
		}
		v.SetInt(i)
	case reflect.Bool:
		b, ok := n.b, n.kind == scalarNode && n.typ == tBool
		if n.env != "" {
			x, err := strconv.ParseBool(n.text)
			b, ok = x, err == nil
		}
		if !ok {
			return l.valueErr(n, key, "must be true or false, not %s", n.describe())
		}
		v.SetBool(b)
	default:
		panic("config: no decoding for " + t.String())
	}
	return nil
}

// duration reads a duration, which must have a unit: a bare number is
// not read as nanoseconds, nor as anything else.
func (l *loader) duration(n *node, key string) (time.Duration, error) {
	bare := n.kind == scalarNode && (n.typ == tInt || n.typ == tFloat)
	if n.kind == scalarNode && n.typ == tString {
		d, err := time.ParseDuration(n.text)
		if err == nil {
			return d, nil
		}
		_, nerr := strconv.ParseFloat(n.text, 64)
		bare = nerr == nil
	}
	if bare {
		ex := "5m"
		if _, err := strconv.ParseUint(n.text, 10, 32); err == nil {
			ex = n.text + "m"
		}
		return 0, l.valueErr(n, key, "%s has no unit; write e.g. %s (90s, 5m or 1h30m)", n.text, l.example(key, ex))
	}
	return 0, l.valueErr(n, key, "%s is not a duration; write e.g. 90s, 5m or 1h30m", n.describe())
}

// example shows key set to value as the file's format writes it.
func (l *loader) example(key, value string) string {
	name := key[strings.LastIndex(key, ".")+1:]
	if strings.HasSuffix(name, "]") {
		return value
	}
	switch l.format {
	case "toml":
		if !strings.HasPrefix(value, `"`) {
			value = strconv.Quote(value)
		}
		return name + " = " + value
	case "json":
		if !strings.HasPrefix(value, `"`) {
			value = strconv.Quote(value)
		}
		return strconv.Quote(name) + ": " + value
	}
	return name + ": " + value
}

// valueErr is a problem with the value n of key: at its line, or, for a
// value from the environment, naming the variable.
func (l *loader) valueErr(n *node, key, format string, args ...any) *Error {
	e := &Error{File: l.file, Key: key, Env: n.env, Msg: fmt.Sprintf(format, args...)}
	if e.Env == "" {
		e.Line = n.line
		if e.Line == 0 {
			e.Line = l.lineOf(key)
		}
	}
	return e
}
