-- +goose Up
-- Findings (internal/findings): where the departments' data disagree, per
-- grid, recomputed after each fact sync from the facts and the links.

-- One row per finding: a kind of the findings catalogue and the key that
-- names what it is about within the kind (a person, a household, a record).
-- It is open from when a refresh first sees it until one no longer does
-- (closed_at); the same key seen again later opens a new row. grid_code is
-- the grid it is counted in and the scope a reader must hold (NULL when it
-- locates nowhere: then only a city-wide reader sees it); person_id the
-- resident it is about, when there is one (a report draft is for them).
CREATE TABLE findings (
    id         bigserial PRIMARY KEY,
    kind       text NOT NULL,
    key        text NOT NULL,
    grid_code  text COLLATE "C",
    person_id  bigint,
    department text,
    set        text,
    fact_id    text,
    detail     jsonb NOT NULL DEFAULT '{}',
    opened_at  timestamptz NOT NULL DEFAULT now(),
    seen_at    timestamptz NOT NULL DEFAULT now(),
    closed_at  timestamptz
);
CREATE UNIQUE INDEX findings_open_idx ON findings (kind, key) WHERE closed_at IS NULL;
CREATE INDEX findings_grid_idx ON findings (grid_code, kind, id) WHERE closed_at IS NULL;

-- What each kind was last computed as (the catalogue's fingerprint of its
-- rule): a kind defined otherwise is recomputed at the next refresh.
CREATE TABLE finding_kinds (
    kind         text PRIMARY KEY,
    fingerprint  text NOT NULL,
    refreshed_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE finding_kinds, findings;
