package federation

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/gridhub/gridhub/connectors"
)

// metrics are the per-department Prometheus series.
type metrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	breaker  *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gridhub_connector_calls_total",
			Help: "Calls to a department's connector by outcome.",
		}, []string{"department", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gridhub_connector_call_duration_seconds",
			Help:    "Duration of calls to a department's connector.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"department"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gridhub_connector_breaker_state",
			Help: "Circuit breaker state per department: 0 closed, 1 half-open, 2 open.",
		}, []string{"department"}),
	}
	if reg != nil {
		reg.MustRegister(m.calls, m.duration, m.breaker)
	}
	return m
}

func (m *metrics) observe(dept string, elapsed time.Duration, err error) {
	m.duration.WithLabelValues(dept).Observe(elapsed.Seconds())
	m.calls.WithLabelValues(dept, outcome(err)).Inc()
}

// outcome names a call's result in a few stable label values.
func outcome(err error) string {
	var perm *connectors.PermanentError
	var retry *connectors.RetryAfterError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		return "breaker_open"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, connectors.ErrNotConnected):
		return "not_connected"
	case errors.As(err, &retry):
		return "retry_after"
	case errors.As(err, &perm):
		return "permanent"
	default:
		return "error"
	}
}
