package telemetry

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
)

// Without an exporter, spans still carry trace ids (new ones, or the
// caller's) for logs and the ledger, but nothing is recorded.
func TestSetupWithoutExporterKeepsTraceIDs(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	shutdown, err := Setup(context.Background(), "gridhub-test", "test")
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(context.Background())
	tr := otel.Tracer("test")

	ctx, span := tr.Start(context.Background(), "op")
	defer span.End()
	sc := span.SpanContext()
	if !sc.IsValid() || !sc.HasTraceID() {
		t.Fatalf("span context %v has no trace id", sc)
	}
	if span.IsRecording() {
		t.Error("a span is recorded with no exporter to send it to")
	}
	_, child := tr.Start(ctx, "child")
	defer child.End()
	if child.SpanContext().TraceID() != sc.TraceID() {
		t.Errorf("child trace id %s, want the parent's %s", child.SpanContext().TraceID(), sc.TraceID())
	}

	// A caller's trace id is kept.
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3},
		SpanID:     trace.SpanID{4, 5, 6},
		TraceFlags: trace.FlagsSampled,
		Remote:     true,
	})
	_, fromCaller := tr.Start(trace.ContextWithRemoteSpanContext(context.Background(), remote), "op")
	defer fromCaller.End()
	if got := fromCaller.SpanContext().TraceID(); got != remote.TraceID() {
		t.Errorf("trace id %s, want the caller's %s", got, remote.TraceID())
	}
}
