// Package gqljson appends GraphQL response values to a byte slice exactly
// as gqlgen's marshalers write them (graphql.MarshalString, MarshalFloat,
// MarshalTime, ...), so that an answer written straight from rows and
// records (graph's planned queries) is byte for byte the answer gqlgen's
// executor would have written, without a Marshaler, a closure and an
// io.Writer call per value.
package gqljson

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

const hex = "0123456789ABCDEF"

// String appends s quoted as graphql.MarshalString writes it: ", \ and
// control characters escaped (\t \r \n, else \u00XX), everything else,
// invalid UTF-8 included, as it is.
func String(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			// Multi-byte runes (and invalid bytes) are written as they are;
			// gqlgen ranges over runes, which never yields one below 0x20
			// or a quote here.
			i++
			continue
		}
		if c >= 0x20 && c != '\\' && c != '"' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '\t':
			b = append(b, `\t`...)
		case '\r':
			b = append(b, `\r`...)
		case '\n':
			b = append(b, `\n`...)
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		default:
			b = append(b, `\u00`...)
			b = append(b, hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Key is a field's key in a response object as gqlgen writes it: the
// quoted alias and a colon.
func Key(alias string) []byte { return append(String(nil, alias), ':') }

// Int appends n as graphql.MarshalInt writes it.
func Int(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }

// Bool appends true or false.
func Bool(b []byte, v bool) []byte { return strconv.AppendBool(b, v) }

// Float appends f as graphql.MarshalFloatContext writes it (%g); ok is false
// for an infinity or NaN, which gqlgen answers with an error instead.
func Float(b []byte, f float64) (_ []byte, ok bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, false
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64), true
}

// Date appends t as the Date scalar writes it (model.MarshalDate): a quoted
// YYYY-MM-DD.
func Date(b []byte, t time.Time) []byte {
	y, m, d := t.Date()
	if y < 0 || y > 9999 {
		return strconv.AppendQuote(b, t.Format(time.DateOnly))
	}
	return append(b, '"',
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+int(m)/10), byte('0'+int(m)%10), '-',
		byte('0'+d/10), byte('0'+d%10), '"')
}

// Time appends t as graphql.MarshalTime writes it (RFC 3339 with
// nanoseconds, quoted); ok is false for the zero time, which gqlgen writes
// as null.
func Time(b []byte, t time.Time) (_ []byte, ok bool) {
	if t.IsZero() {
		return b, false
	}
	return strconv.AppendQuote(b, t.Format(time.RFC3339Nano)), true
}

// Null appends null.
func Null(b []byte) []byte { return append(b, "null"...) }
