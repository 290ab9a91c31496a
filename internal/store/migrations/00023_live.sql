-- +goose Up
-- Live updates (package internal/live): every change a subscription may
-- follow is announced on the channel gridhub_live, by triggers, so that
-- whichever replica and whichever writer (a request, a River worker, a
-- sync) makes it, every replica hears it (NOTIFY is sent when the
-- transaction commits, and not at all when it rolls back). The payload
-- names what changed, never its content: a subscriber reads it again under
-- its caller's scope and policy.

-- A department's delivery of a submission was recorded or changed.
-- +goose StatementBegin
CREATE FUNCTION gridhub_live_delivery() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gridhub_live', json_build_object(
        'kind', 'submission', 'id', NEW.submission_id::text)::text);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER report_deliveries_live AFTER INSERT OR UPDATE ON report_deliveries
    FOR EACH ROW EXECUTE FUNCTION gridhub_live_delivery();

-- An event was reported, or its delivery or its case changed.
-- +goose StatementBegin
CREATE FUNCTION gridhub_live_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (OLD.status, OLD.case_number, OLD.stage, OLD.deadline, OLD.closed_on)
            IS NOT DISTINCT FROM (NEW.status, NEW.case_number, NEW.stage, NEW.deadline, NEW.closed_on) THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('gridhub_live', json_build_object(
        'kind', 'event', 'id', NEW.id::text, 'grid', NEW.grid_code, 'reporter', NEW.reporter,
        'new', TG_OP = 'INSERT')::text);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER grid_events_live AFTER INSERT OR UPDATE ON grid_events
    FOR EACH ROW EXECUTE FUNCTION gridhub_live_event();

-- +goose Down
DROP TRIGGER grid_events_live ON grid_events;
DROP FUNCTION gridhub_live_event();
DROP TRIGGER report_deliveries_live ON report_deliveries;
DROP FUNCTION gridhub_live_delivery();
