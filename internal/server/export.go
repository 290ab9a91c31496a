package server

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gridhub/gridhub/graph"
	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/audit"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/indicators"
)

// exportIndicators serves /export/indicators.csv?level=&within=&names= for BI
// tools that do not speak GraphQL: the same table, policy and suppression as
// the indicators query, and one ledger entry per export.
func exportIndicators(r *graph.Resolver) http.Handler {
	return exportTable(r, "indicators", func(req *http.Request, level grid.Level, within *string, names []string) (*indicators.Table, error) {
		return r.IndicatorsFor(req.Context(), level, within, names)
	})
}

// exportAssessment serves /export/assessment.csv?level=&within=&from=&to=&names=:
// the 考核 table of the assessment query, as CSV.
func exportAssessment(r *graph.Resolver) http.Handler {
	return exportTable(r, "assessment", func(req *http.Request, level grid.Level, within *string, names []string) (*indicators.Table, error) {
		q := req.URL.Query()
		from, err1 := time.Parse(time.DateOnly, q.Get("from"))
		to, err2 := time.Parse(time.DateOnly, q.Get("to"))
		if err1 != nil || err2 != nil {
			return nil, apperr.BadInput("from", "date", "from and to must be dates YYYY-MM-DD")
		}
		return r.AssessmentFor(req.Context(), level, within, from, to, names)
	})
}

// exportTable serves a table as CSV (indicators.WriteCSV): level, within
// and names from the query string, the table from build, one ledger entry
// per export.
func exportTable(r *graph.Resolver, name string, build func(req *http.Request, level grid.Level, within *string, names []string) (*indicators.Table, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		level, ok := parseLevel(q.Get("level"))
		if !ok {
			writeError(w, req, http.StatusBadRequest, string(apperr.BadUserInput),
				"level must be one of DISTRICT, TOWNSHIP, COMMUNITY, GRID")
			return
		}
		var within *string
		if v := q.Get("within"); v != "" {
			within = &v
		}
		var names []string
		if v := q.Get("names"); v != "" {
			names = strings.Split(v, ",")
		}
		t, err := build(req, level, within, names)
		if err != nil {
			status, code := http.StatusInternalServerError, "INTERNAL_SERVER_ERROR"
			msg := "internal error"
			if e, ok := apperr.As(err); ok {
				code, msg = string(e.Code), e.Message
				switch e.Code {
				case apperr.BadUserInput:
					status = http.StatusBadRequest
				case apperr.Forbidden:
					status = http.StatusForbidden
				case apperr.NotFound:
					status = http.StatusNotFound
				}
			}
			writeError(w, req, status, code, msg)
			return
		}
		var buf bytes.Buffer
		if err := indicators.WriteCSV(&buf, t); err != nil {
			writeError(w, req, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "internal error")
			return
		}
		if r.Ledger != nil {
			pr, _ := auth.FromContext(req.Context())
			e := audit.Entry{Action: audit.ActionExport, Actor: pr.Subject, Department: pr.Department,
				Fields: t.Names, OperationHash: audit.OperationHash(req.URL.RawQuery, name+".csv")}
			for _, role := range pr.Roles {
				e.Roles = append(e.Roles, string(role))
			}
			if _, err := r.Ledger.Append(req.Context(), e); err != nil {
				writeError(w, req, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "audit ledger unavailable")
				return
			}
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.csv"`, name, strings.ToLower(level.String())))
		w.Write(buf.Bytes())
	})
}

func parseLevel(s string) (grid.Level, bool) {
	for _, l := range []grid.Level{grid.District, grid.Township, grid.Community, grid.Grid} {
		if strings.EqualFold(s, l.String()) {
			return l, true
		}
	}
	return 0, false
}
