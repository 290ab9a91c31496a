-- +goose Up
-- The unified report (package internal/report).

-- What a household visit reports about the master index itself (core fields):
-- whether the person lives here, since when they are away, and how many people
-- actually live in the household (实住人数; registered members until reported).
ALTER TABLE persons
    ADD COLUMN residence  text CHECK (residence IN ('RESIDENT', 'AWAY', 'MOVED_OUT')),
    ADD COLUMN away_since date;
ALTER TABLE households
    ADD COLUMN resident_count integer CHECK (resident_count BETWEEN 0 AND 1000);

-- One row per accepted submission. The idempotency key is unique: a retried
-- request finds the row and gets the stored submission back; fingerprint (the
-- SHA-256 of template, version, subject, actor and values) tells a retry from a
-- different report sent under a reused key. values are the submitted values in
-- canonical text, draft the fresh draft they were compared with (value, source,
-- as-of per field). subject_person_id has no foreign key: reseeding the master
-- index (TRUNCATE persons) must not be blocked by old reports.
CREATE TABLE report_submissions (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    idempotency_key   text        NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 8 AND 128),
    fingerprint       bytea       NOT NULL,
    template          text        NOT NULL,
    version           integer     NOT NULL CHECK (version > 0),
    subject_person_id bigint      NOT NULL,
    grid_code         text COLLATE "C" NOT NULL,
    actor             text        NOT NULL,
    actor_roles       text[]      NOT NULL,
    values            jsonb       NOT NULL,
    draft             jsonb       NOT NULL,
    core_fields       text[]      NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX report_submissions_subject_idx ON report_submissions (subject_person_id, created_at);
CREATE INDEX report_submissions_grid_idx ON report_submissions (grid_code, created_at);

-- One row per submission and department with changed fields, created with its
-- River job in the submission's transaction. payload is what the department
-- receives ([{field, target, type, value}]). job_id is the current job: a
-- redelivery replaces it, and a worker holding an older job leaves the row
-- alone. attempts counts calls to the department across redeliveries.
CREATE TABLE report_deliveries (
    submission_id uuid        NOT NULL REFERENCES report_submissions (id),
    department    text        NOT NULL,
    status        text        NOT NULL CHECK (status IN ('PENDING', 'RETRYING', 'DELIVERED', 'FAILED')),
    payload       jsonb       NOT NULL,
    job_id        bigint,
    attempts      integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    redeliveries  integer     NOT NULL DEFAULT 0 CHECK (redeliveries >= 0),
    last_error    text,
    delivered_at  timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (submission_id, department),
    CHECK ((status = 'DELIVERED') = (delivered_at IS NOT NULL))
);
-- The operators' view: what is not delivered yet, per department.
CREATE INDEX report_deliveries_open_idx ON report_deliveries (department, status, updated_at)
    WHERE status <> 'DELIVERED';

-- +goose Down
DROP TABLE report_deliveries, report_submissions;
ALTER TABLE households DROP COLUMN resident_count;
ALTER TABLE persons DROP COLUMN residence, DROP COLUMN away_since;
