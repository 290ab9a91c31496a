package rest

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"testing"
)

// stdDecode is decode as encoding/json does it: the reference decode must
// agree with, on values and on what it refuses.
func stdDecode(b []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return doc, true
}

// FuzzDecodeMatchesEncodingJSON: a department's answer decodes to what
// encoding/json makes of it (numbers as json.Number, invalid UTF-8 replaced,
// the last of duplicate members), and what it refuses is refused. The seeds
// run in every `go test`; `go test -fuzz FuzzDecode ./connectors/rest` looks
// for more.
func FuzzDecodeMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"code":0,"msg":"success","data":{"list":[{"sfzh":"34070219730310887X","je":123456789012345678901,"bl":1.5e-3,"ok":true,"x":null}]}}`,
		`{"a":"\u00e9\ud83d\ude00","b":"\ud800","c":"\/\b\f\n\r\t\""}`,
		"{\"a\":\"\xff\xfe\",\"\xc3\":1}",
		`{"a":1,"a":2}`,
		`[1,-0,0.0,1E+2,-1e-999,1e999]`,
		`{"a":1} {"b":2}`,
		`{"a":1}x`,
		`{"a":1,}`,
		`{"a":01}`,
		`{"a":"x` + "\n" + `"}`,
		`  [[[[[[[[[[]]]]]]]]]]  `,
		`nul`, `"x"`, ``, ` `, `{"a":tru}`, `<html>维护中</html>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, wantOK := stdDecode(b)
		got, err := decode(b, "read")
		if (err == nil) != wantOK {
			t.Fatalf("%q: decode err = %v, encoding/json accepts it: %v", b, err, wantOK)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: decode = %#v, encoding/json = %#v", b, got, want)
		}
	})
}
