// Package yamlpos decodes the hub's configuration files strictly and says
// where in a file a problem is: every error of a configuration file reads
// "file:line: what is wrong", so that `gridhub config check` and start-up
// point at the line to mend.
package yamlpos

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// File is a decoded configuration file: its name (as errors show it) and
// its node tree, for finding the line of a key.
type File struct {
	Name string
	Root *yaml.Node
}

// Decode reads raw into v strictly (an unknown key is an error) and returns
// the file's node tree. Errors name the file and line.
func Decode(name string, raw []byte, v any) (*File, error) {
	f := &File{Name: name}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return nil, f.wrap(err)
	}
	f.Root = &root
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return nil, f.wrap(err)
	}
	return f, nil
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// wrap turns a yaml error into one error per problem, each "file:line: ...".
func (f *File) wrap(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		errs := make([]error, 0, len(te.Errors))
		for _, e := range te.Errors {
			errs = append(errs, f.lineError(e))
		}
		return errors.Join(errs...)
	}
	return f.lineError(err.Error())
}

func (f *File) lineError(msg string) error {
	msg = strings.TrimPrefix(msg, "yaml: ")
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &Error{File: f.Name, Line: n, Msg: m[2]}
	}
	return &Error{File: f.Name, Msg: msg}
}

// Error is a problem at a place in a configuration file.
type Error struct {
	File string
	Line int // 0 when unknown
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// Errorf is a problem at the key that path leads to (map keys as strings,
// sequence indexes as ints), or at its closest ancestor when the key is
// absent.
func (f *File) Errorf(path []any, format string, args ...any) error {
	name := "(no file)"
	if f != nil {
		name = f.Name
	}
	return &Error{File: name, Line: f.Line(path...), Msg: fmt.Sprintf(format, args...)}
}

// Line finds the line of the key at path, or of its closest ancestor; 0 for
// a file without nodes.
func (f *File) Line(path ...any) int {
	if f == nil || f.Root == nil || len(f.Root.Content) == 0 {
		return 0
	}
	n := f.Root.Content[0]
	line := n.Line
	for _, p := range path {
		switch k := p.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return line
			}
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					line, n, found = n.Content[i].Line, n.Content[i+1], true
					break
				}
			}
			if !found {
				return line
			}
		case int:
			if n.Kind != yaml.SequenceNode || k < 0 || k >= len(n.Content) {
				return line
			}
			n = n.Content[k]
			line = n.Line
		}
	}
	return line
}

// Path writes a path the way a reader of the file names it:
// records[2].fields[0].sharing.
func Path(path ...any) string {
	var b strings.Builder
	for _, p := range path {
		switch k := p.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(k)
		case int:
			b.WriteString("[" + strconv.Itoa(k) + "]")
		}
	}
	return b.String()
}

// Flatten lists the problems inside err one by one: joined errors are
// opened, each other error is one problem.
func Flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Flatten(e)...)
		}
		return out
	}
	return []error{err}
}
