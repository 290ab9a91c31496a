package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/gridhub/gridhub/internal/apperr"
)

// Media types of a GraphQL response (GraphQL over HTTP).
const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

// graphQLHTTP serves GraphQL over HTTP on GET and POST as the spec
// (https://graphql.github.io/graphql-over-http/draft/) asks, and as the audit of
// the npm package graphql-http checks (`make conformance`). It takes the place
// of gqlgen's transport.GET and transport.POST, which differ from the spec here:
//
//   - A request error (parse, validation, variables, QUERY_TOO_COMPLEX, an
//     unknown persisted query) answered in application/json is 200, as for
//     every well-formed request; gqlgen answers 422. In
//     application/graphql-response+json it is 400 (the spec's MUST: no data,
//     so 4xx), where gqlgen answers 200 to every code but parse and validation.
//   - A request error has no "data" entry, nothing having run; gqlgen sends
//     "data": null.
//   - The response type is negotiated with the q values of Accept, by the rule
//     the auth middleware's 401 uses; gqlgen takes the first type listed.
//   - A mutation over GET is 405 with Allow: POST; gqlgen answers 406, or a
//     validation error when the schema has no mutations.
//   - A POST that is not application/json in UTF-8 is 415, another method 405
//     with Allow; gqlgen answers 400 "transport not supported", not in JSON.
//   - A body cut at MaxBodyBytes (no Content-Length) is 413; gqlgen answers
//     200. A malformed body is not echoed in the error, as gqlgen does: it may
//     hold personal data.
//
// Parsing, validation and execution stay gqlgen's: CreateOperationContext,
// DispatchOperation and DispatchError, with every extension.
type graphQLHTTP struct{}

var _ graphql.Transport = graphQLHTTP{}

// allowedMethods are the methods /graphql answers (transport.Options answers
// OPTIONS with the same list).
const allowedMethods = "OPTIONS, GET, POST"

// Supports takes every request but OPTIONS (transport.Options answers those):
// another method gets a 405 in JSON rather than gqlgen's bare 400.
func (graphQLHTTP) Supports(r *http.Request) bool { return r.Method != http.MethodOptions }

// Do implements graphql.Transport.
func (graphQLHTTP) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	w.Header().Add("Vary", "Accept")
	start := graphql.Now()
	var raw *graphql.RawParams
	var status int
	var reason string
	switch r.Method {
	case http.MethodGet:
		raw, status, reason = paramsFromQuery(r)
	case http.MethodPost:
		raw, status, reason = paramsFromBody(r)
	default:
		w.Header().Set("Allow", allowedMethods)
		raw, status, reason = nil, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed: send GET or POST", r.Method)
	}
	if raw == nil {
		writeError(w, r, status, string(apperr.BadUserInput), reason)
		return
	}
	if raw.Query == "" && !namesPersistedDocument(raw) {
		writeError(w, r, http.StatusBadRequest, string(apperr.BadUserInput), "the request has no query")
		return
	}
	raw.Headers = r.Header
	raw.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	raw.Variables = plainNumbers(raw.Variables).(map[string]any)

	ctx := r.Context()
	opCtx, errs := exec.CreateOperationContext(ctx, raw)
	if errs != nil {
		if r.Method == http.MethodGet && !readsOnly(raw.Query, raw.OperationName) {
			refuseOverGET(w, r)
			return
		}
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), errs)
		status := http.StatusOK
		if responseType(r) == mediaGraphQLResponse {
			status = http.StatusBadRequest
		}
		writeJSON(w, r, status, errorResponse{Errors: capErrors(resp.Errors), Extensions: resp.Extensions})
		return
	}
	if r.Method == http.MethodGet && opCtx.Operation.Operation != ast.Query {
		refuseOverGET(w, r)
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, opCtx)
	resp := responses(ctx)
	if resp == nil {
		writeJSON(w, r, http.StatusOK, resp)
		return
	}
	resp.Errors = capErrors(resp.Errors)
	writeResponse(w, r, resp)
}

// writeResponse writes an executed operation's answer. Its data is JSON the
// executor wrote already: it is written as it is, neither encoded again
// (which would check and compact every byte of it) nor copied (a city's
// indicator table is megabytes); the rest is encoded, in the order
// encoding/json writes a graphql.Response.
func writeResponse(w http.ResponseWriter, r *http.Request, resp *graphql.Response) {
	if resp.Label != "" || resp.Path != nil || resp.HasNext != nil {
		writeJSON(w, r, http.StatusOK, resp) // incremental delivery: not on this transport
		return
	}
	head := []byte{'{'}
	if len(resp.Errors) > 0 {
		b, err := json.Marshal(resp.Errors)
		if err != nil {
			writeJSON(w, r, http.StatusOK, resp)
			return
		}
		head = append(append(append(head, `"errors":`...), b...), ',')
	}
	head = append(head, `"data":`...)
	data := []byte(resp.Data)
	if len(data) == 0 {
		data = []byte("null")
	}
	var tail []byte
	if len(resp.Extensions) > 0 {
		b, err := json.Marshal(resp.Extensions)
		if err != nil {
			writeJSON(w, r, http.StatusOK, resp)
			return
		}
		tail = append([]byte(`,"extensions":`), b...)
	}
	tail = append(tail, '}')
	w.Header().Set("Content-Type", responseType(r))
	w.Header().Set("Content-Length", strconv.Itoa(len(head)+len(data)+len(tail)))
	w.WriteHeader(http.StatusOK)
	for _, b := range [][]byte{head, data, tail} {
		if _, err := w.Write(b); err != nil {
			return // the client hung up
		}
	}
}

// MaxErrors bounds the errors of one response: a hostile document (a
// directive repeated a thousand times) or a page of withheld fields can
// produce many; past the bound they are counted in one last error.
const MaxErrors = 100

// capErrors keeps the first MaxErrors-1 errors and says how many more there
// were.
func capErrors(errs gqlerror.List) gqlerror.List {
	if len(errs) <= MaxErrors {
		return errs
	}
	kept := errs[: MaxErrors-1 : MaxErrors-1]
	return append(kept, &gqlerror.Error{
		Message:    fmt.Sprintf("%d more errors not shown: a response reports at most %d", len(errs)-len(kept), MaxErrors),
		Extensions: map[string]any{"code": "TOO_MANY_ERRORS"},
	})
}

// errorResponse is a GraphQL response to a request that never ran: errors and
// no data entry.
type errorResponse struct {
	Errors     gqlerror.List  `json:"errors"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

// paramsFromQuery reads a GET request's parameters from its URL; variables and
// extensions are JSON objects.
func paramsFromQuery(r *http.Request) (*graphql.RawParams, int, string) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, http.StatusBadRequest, "the query string cannot be parsed: " + err.Error()
	}
	raw := &graphql.RawParams{Query: q.Get("query"), OperationName: q.Get("operationName")}
	if v := q.Get("variables"); v != "" {
		if err := decodeJSON(strings.NewReader(v), &raw.Variables); err != nil {
			return nil, http.StatusBadRequest, "variables must be a JSON object: " + err.Error()
		}
	}
	if v := q.Get("extensions"); v != "" {
		if err := decodeJSON(strings.NewReader(v), &raw.Extensions); err != nil {
			return nil, http.StatusBadRequest, "extensions must be a JSON object: " + err.Error()
		}
	}
	return raw, 0, ""
}

// paramsFromBody reads a POST request's parameters from its application/json
// body.
func paramsFromBody(r *http.Request) (*graphql.RawParams, int, string) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != mediaJSON {
		return nil, http.StatusUnsupportedMediaType, "send the request as Content-Type: application/json"
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return nil, http.StatusUnsupportedMediaType, "send the request in UTF-8, not " + strconv.Quote(cs)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds the limit of %d bytes", MaxBodyBytes)
		}
		return nil, http.StatusBadRequest, "the request body cannot be read"
	}
	raw := &graphql.RawParams{}
	if err := decodeJSON(bytes.NewReader(body), raw); err != nil {
		return nil, http.StatusBadRequest, "the body must be a JSON object with a string query, and operationName, variables and extensions of the right types: " + err.Error()
	}
	return raw, 0, ""
}

// plainNumbers turns the json.Number values of decoded variables into int64
// (a whole number that fits) or float64. A json.Number is a string to the
// validator, which would then let 123 through as a String variable; the
// spec does not coerce numbers to String, and an ID number sent as a number
// has lost digits already.
func plainNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = plainNumbers(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = plainNumbers(e)
		}
		return x
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	}
	return v
}

// decodeJSON decodes exactly one JSON value into v (numbers as json.Number, as
// gqlgen decodes them); anything after it is an error.
func decodeJSON(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("it is empty")
		}
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data follows the JSON value")
	}
	return nil
}

// namesPersistedDocument reports whether a request without a query names a
// stored document instead: the automatic persisted query extension, or the
// documentId of a trusted document (graph.TrustedDocuments).
func namesPersistedDocument(raw *graphql.RawParams) bool {
	return raw.Extensions["persistedQuery"] != nil || raw.Extensions["documentId"] != nil
}

// readsOnly reports whether the document does not select a mutation or
// subscription to run. It parses again only on a GET that failed: a mutation
// over GET is refused with 405 even when it would not validate (the schema has
// no mutations).
func readsOnly(query, operationName string) bool {
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, MaxTokens)
	if err != nil {
		return true
	}
	op := doc.Operations.ForName(operationName)
	return op == nil || op.Operation == ast.Query
}

// refuseOverGET answers a mutation (or subscription) sent over GET: the spec's
// 405, which also keeps a link or a prefetch from changing anything.
func refuseOverGET(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "POST")
	writeError(w, r, http.StatusMethodNotAllowed, string(apperr.BadUserInput), "GET runs only queries: send mutations with POST")
}

// writeJSON answers with status and v as JSON, in the media type the request's
// Accept negotiates.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}`)
	}
	w.Header().Set("Content-Type", responseType(r))
	w.WriteHeader(status)
	w.Write(b)
}

// responseType picks application/graphql-response+json when the client ranks
// it at least as high as application/json, and application/json otherwise
// (*/*, no Accept, or neither type: what every legacy client reads). It is the
// rule of auth.Unauthorized, so that a 401 and an answer from the GraphQL server
// to the same request carry the same type.
func responseType(r *http.Request) string {
	gqlQ, jsonQ := -1.0, -1.0
	for _, line := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(line, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if s, ok := params["q"]; ok {
				f, err := strconv.ParseFloat(s, 64)
				if err != nil || f < 0 || f > 1 {
					continue
				}
				q = f
			}
			switch mt {
			case mediaGraphQLResponse:
				gqlQ = max(gqlQ, q)
			case mediaJSON:
				jsonQ = max(jsonQ, q)
			}
		}
	}
	if gqlQ > 0 && gqlQ >= jsonQ {
		return mediaGraphQLResponse
	}
	return mediaJSON
}
