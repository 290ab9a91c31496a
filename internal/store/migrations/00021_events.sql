-- +goose Up
-- The grid's daily work, part two (package internal/gridwork): events and
-- broken components reported from the grid (事件上报) to the department
-- that handles them (gridwork.yaml), their photos, their delivery, and the
-- case the department opened, as its fact feed last showed it.

-- One row an event. The idempotency key is unique: a retried request finds
-- the stored event; fingerprint tells a retry from another event sent under
-- a reused key. grid_code is the grid the point lies in (the registry's
-- answer); outside_scope flags a point outside the reporter's own grids.
-- The delivery is tracked here as a report's is in report_deliveries: the
-- River job is inserted in the event's transaction, job_id is the current
-- one. case_number is what the department's answer carried; stage,
-- deadline and closed_on follow its fact feed.
CREATE TABLE grid_events (
    id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    idempotency_key  text        NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 8 AND 128),
    fingerprint      bytea       NOT NULL,
    reporter         text        NOT NULL,
    reporter_roles   text[]      NOT NULL,
    grid_code        text COLLATE "C" NOT NULL CHECK (grid_code ~ '^[0-9]{15}$'),
    outside_scope    boolean     NOT NULL,
    diary_entry_id   bigint      REFERENCES diary_entries (id),
    kind             text        NOT NULL,
    category         text        NOT NULL,
    description      text        NOT NULL CHECK (length(description) BETWEEN 1 AND 2000),
    lon              double precision NOT NULL,
    lat              double precision NOT NULL,
    address          text        CHECK (length(address) <= 200),
    department       text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('PENDING', 'RETRYING', 'DELIVERED', 'FAILED')),
    job_id           bigint,
    attempts         integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error       text,
    delivered_at     timestamptz,
    case_number      text,
    stage            text,
    deadline         date,
    closed_on        date,
    stage_changed_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'DELIVERED') = (delivered_at IS NOT NULL))
);
CREATE INDEX grid_events_grid_idx ON grid_events (grid_code, created_at);
CREATE INDEX grid_events_reporter_idx ON grid_events (reporter, created_at);
-- The cases still to follow, by case number.
CREATE INDEX grid_events_case_idx ON grid_events (department, case_number) WHERE case_number IS NOT NULL;

-- An event's photos, stored with it in its transaction: never served but
-- to a caller who may read the event.
CREATE TABLE grid_event_photos (
    event_id     uuid     NOT NULL REFERENCES grid_events (id),
    n            smallint NOT NULL CHECK (n BETWEEN 1 AND 10),
    content_type text     NOT NULL,
    bytes        bytea    NOT NULL CHECK (length(bytes) > 0),
    sha256       bytea    NOT NULL,
    PRIMARY KEY (event_id, n)
);

-- +goose Down
DROP TABLE grid_event_photos, grid_events;
