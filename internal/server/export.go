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

// exportIndicators serves the indicator tables for BI tools that do not
// speak GraphQL, with the same policy and suppression as the indicators
// query, and one ledger entry per export:
//
//	/export/indicators.csv?level=&within=&names=&period=
//	/export/indicators-series.csv?level=&within=&names=&from=&to=
//	/export/indicators.xlsx?within=&names=&period=         (a sheet per level at or below within)
//	/export/indicators-series.xlsx?within=&names=&from=&to=
//
// A series CSV is the CSV of each period (indicators.WriteCSV) with the
// period as its first column, under one header.
func exportIndicators(r *graph.Resolver, series bool, format string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		var levels []grid.Level
		if format == "csv" {
			level, ok := parseLevel(q.Get("level"))
			if !ok {
				writeError(w, req, http.StatusBadRequest, string(apperr.BadUserInput),
					"level must be one of DISTRICT, TOWNSHIP, COMMUNITY, GRID")
				return
			}
			levels = []grid.Level{level}
		} else {
			levels = levelsUnder(q.Get("within"))
		}
		within := optional(q.Get("within"))
		var names []string
		if v := q.Get("names"); v != "" {
			names = strings.Split(v, ",")
		}
		// byPeriod[i] are the tables of period i (one period when not a series).
		var byPeriod [][]*indicators.Table
		for _, level := range levels {
			var tables []*indicators.Table
			var err error
			if series {
				tables, err = r.SeriesFor(req.Context(), level, within, names, optional(q.Get("from")), optional(q.Get("to")))
			} else {
				var t *indicators.Table
				t, err = r.IndicatorsFor(req.Context(), level, within, names, optional(q.Get("period")))
				tables = []*indicators.Table{t}
			}
			if err != nil {
				writeAppError(w, req, err)
				return
			}
			for i, t := range tables {
				if i == len(byPeriod) {
					byPeriod = append(byPeriod, nil)
				}
				byPeriod[i] = append(byPeriod[i], t)
			}
		}
		var buf bytes.Buffer
		var err error
		cat := r.Figures.Catalogue()
		switch {
		case format == "xlsx" && series:
			err = indicators.WriteSeriesXLSX(&buf, cat, byPeriod)
		case format == "xlsx":
			err = indicators.WriteXLSX(&buf, cat, byPeriod[0])
		case series:
			err = indicators.WriteSeriesCSV(&buf, flatten(byPeriod))
		default:
			err = indicators.WriteCSV(&buf, byPeriod[0][0])
		}
		if err != nil {
			writeError(w, req, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "internal error")
			return
		}
		file := "indicators"
		if series {
			file += "-series"
		}
		fields := names
		if len(byPeriod) > 0 && len(byPeriod[0]) > 0 {
			fields = byPeriod[0][0].Names
		}
		if !auditExport(w, req, r, fields, file+"."+format) {
			return
		}
		if format == "xlsx" {
			w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
			w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.xlsx"`, file))
		} else {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.csv"`, file, strings.ToLower(levels[0].String())))
		}
		w.Write(buf.Bytes())
	})
}

// exportAssessment serves /export/assessment.csv?level=&within=&from=&to=&names=:
// the 考核 table of the assessment query, as CSV, one ledger entry per export.
func exportAssessment(r *graph.Resolver) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		level, ok := parseLevel(q.Get("level"))
		if !ok {
			writeError(w, req, http.StatusBadRequest, string(apperr.BadUserInput),
				"level must be one of DISTRICT, TOWNSHIP, COMMUNITY, GRID")
			return
		}
		from, err1 := time.Parse(time.DateOnly, q.Get("from"))
		to, err2 := time.Parse(time.DateOnly, q.Get("to"))
		if err1 != nil || err2 != nil {
			writeAppError(w, req, apperr.BadInput("from", "date", "from and to must be dates YYYY-MM-DD"))
			return
		}
		var names []string
		if v := q.Get("names"); v != "" {
			names = strings.Split(v, ",")
		}
		t, err := r.AssessmentFor(req.Context(), level, optional(q.Get("within")), from, to, names)
		if err != nil {
			writeAppError(w, req, err)
			return
		}
		var buf bytes.Buffer
		if err := indicators.WriteCSV(&buf, t); err != nil {
			writeError(w, req, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "internal error")
			return
		}
		if !auditExport(w, req, r, t.Names, "assessment.csv") {
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="assessment-%s.csv"`, strings.ToLower(level.String())))
		w.Write(buf.Bytes())
	})
}

// auditExport appends the ledger entry of an export before it is answered;
// false when it could not (the error is written).
func auditExport(w http.ResponseWriter, req *http.Request, r *graph.Resolver, fields []string, file string) bool {
	if r.Ledger == nil {
		return true
	}
	pr, _ := auth.FromContext(req.Context())
	e := audit.Entry{Action: audit.ActionExport, Actor: pr.Subject, Department: pr.Department,
		Fields: fields, OperationHash: audit.OperationHash(req.URL.RawQuery, file)}
	for _, role := range pr.Roles {
		e.Roles = append(e.Roles, string(role))
	}
	if _, err := r.Ledger.Append(req.Context(), e); err != nil {
		writeError(w, req, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "audit ledger unavailable")
		return false
	}
	return true
}

// writeAppError answers an error of the indicators: its code and status,
// or an internal error.
func writeAppError(w http.ResponseWriter, req *http.Request, err error) {
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
}

// levelsUnder are the levels at or below within's (every level without
// within): the sheets of a workbook.
func levelsUnder(within string) []grid.Level {
	var out []grid.Level
	from := grid.District
	if l, ok := grid.LevelOf(within); ok {
		from = l
	}
	for _, l := range []grid.Level{grid.District, grid.Township, grid.Community, grid.Grid} {
		if l >= from {
			out = append(out, l)
		}
	}
	return out
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func flatten(byPeriod [][]*indicators.Table) []*indicators.Table {
	var out []*indicators.Table
	for _, ts := range byPeriod {
		out = append(out, ts...)
	}
	return out
}

func parseLevel(s string) (grid.Level, bool) {
	for _, l := range []grid.Level{grid.District, grid.Township, grid.Community, grid.Grid} {
		if strings.EqualFold(s, l.String()) {
			return l, true
		}
	}
	return 0, false
}
