package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gridhub/gridhub/internal/apperr"
)

// FieldValue is one submitted field: a catalogue key and its value as text
// (enum values, YYYY-MM-DD dates, true/false, decimal numbers). An empty value
// clears the field.
type FieldValue struct {
	Field string `json:"field"`
	Value string `json:"value"`
}

// FieldError is one rule a submission breaks.
type FieldError struct {
	// Path is the input path: "values[3].value", "values[3].field", "values"
	// (a required field that is missing), "template", "version", "subject",
	// "idempotencyKey".
	Path string
	// Field is the catalogue key the error is about, if any.
	Field string
	// Rule names the rule: unknown, duplicate, required, required_if, enum,
	// date, not_future, int, decimal, range, bool, length, pattern, idnumber,
	// holder, format, retired, idempotency.
	Rule    string
	Message string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Message }

// AppError is the error as the GraphQL error presenter takes it:
// BAD_USER_INPUT with the path as Field.
func (e *FieldError) AppError() *apperr.Error {
	return &apperr.Error{Code: apperr.BadUserInput, Field: e.Path, Rule: e.Rule, Message: e.Message}
}

// ValidationError is every rule a submission breaks, all at once. Unwrap gives
// one *apperr.Error (BAD_USER_INPUT) per failure, so apperr.As finds the first
// and errors.As(err, &*ValidationError) finds them all.
type ValidationError struct {
	Errors []*FieldError
}

func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		msgs[i] = fe.Error()
	}
	return fmt.Sprintf("report: %d invalid input(s): %s", len(e.Errors), strings.Join(msgs, "; "))
}

// Unwrap returns the failures as *apperr.Error values.
func (e *ValidationError) Unwrap() []error {
	out := make([]error, len(e.Errors))
	for i, fe := range e.Errors {
		out[i] = fe.AppError()
	}
	return out
}

// AppErrors returns the failures as *apperr.Error values, in order.
func (e *ValidationError) AppErrors() []*apperr.Error {
	out := make([]*apperr.Error, len(e.Errors))
	for i, fe := range e.Errors {
		out[i] = fe.AppError()
	}
	return out
}

// parsed is one valid submitted value.
type parsed struct {
	field *TemplateField
	index int    // in SubmitInput.Values
	text  string // canonical; "" clears the field
}

// validate checks every submitted value against its template field and the
// rules across fields, collecting every failure. The condition of a
// required_if, and whether a required field has a value, are judged on the
// report as it stands after submission: the submitted value where there is
// one, else the draft's.
func validate(t *Template, values []FieldValue, draft *Draft, sub *Subject, now time.Time) (map[string]*parsed, []*FieldError) {
	var errs []*FieldError
	add := func(path, field, rule, format string, args ...any) {
		errs = append(errs, &FieldError{Path: path, Field: field, Rule: rule, Message: fmt.Sprintf(format, args...)})
	}
	got := map[string]*parsed{}
	invalid := map[string]bool{} // submitted but failing a rule
	for i, v := range values {
		tf := t.Field(v.Field)
		switch {
		case tf == nil:
			add(fmt.Sprintf("values[%d].field", i), v.Field, "unknown", "%q is not a field of report %s version %d", clip(v.Field, 80), t.ID, t.Version)
			continue
		case got[tf.Key] != nil || invalid[tf.Key]:
			add(fmt.Sprintf("values[%d].field", i), tf.Key, "duplicate", "%s (%s) is given more than once", tf.Label, tf.Key)
			continue
		}
		path := fmt.Sprintf("values[%d].value", i)
		raw := strings.TrimSpace(v.Value)
		if raw == "" {
			got[tf.Key] = &parsed{field: tf, index: i}
			continue
		}
		val, err := tf.Parse(raw, now)
		if err != nil {
			re := err.(*ruleError)
			add(path, tf.Key, re.Rule, "%s", re.Message)
			invalid[tf.Key] = true
			continue
		}
		if tf.Type == TypeIDNumber && tf.IDKind == IDDisability && !strings.HasPrefix(val.Text, sub.idNumber) {
			add(path, tf.Key, "holder", "%s: the certificate's holder is not the report's subject", tf.Label)
			invalid[tf.Key] = true
			continue
		}
		got[tf.Key] = &parsed{field: tf, index: i, text: val.Text}
	}
	// effective is the field's value after submission, and whether it is known.
	effective := func(key string) (string, bool) {
		if p := got[key]; p != nil {
			return p.text, true
		}
		if invalid[key] {
			return "", false
		}
		if df := draft.Field(key); df != nil && df.Value != nil {
			return *df.Value, true
		}
		return "", true
	}
	for _, tf := range t.Fields {
		if invalid[tf.Key] {
			continue
		}
		required, rule, why := tf.Required, "required", "is required"
		if rif := tf.RequiredIf; rif != nil && !required {
			cond, known := effective(rif.Field)
			other := t.Field(rif.Field)
			switch {
			case !known:
			case rif.Present && cond != "":
				required, rule, why = true, "required_if", fmt.Sprintf("is required when %s is given", other.Label)
			case slices.Contains(rif.Equals, cond):
				label := cond
				if l := other.EnumLabel(cond); l != "" {
					label = l
				}
				required, rule, why = true, "required_if", fmt.Sprintf("is required when %s is %s", other.Label, label)
			}
		}
		if !required {
			continue
		}
		if v, _ := effective(tf.Key); v != "" {
			continue
		}
		if p := got[tf.Key]; p != nil {
			add(fmt.Sprintf("values[%d].value", p.index), tf.Key, rule, "%s %s", tf.Label, why)
		} else {
			add("values", tf.Key, rule, "%s (%s) %s", tf.Label, tf.Key, why)
		}
	}
	return got, errs
}

// clip shortens what the caller sent before it is echoed back.
func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
