-- +goose Up
-- Snapshots of the published indicator tables, one per period (monthly by
-- default, or taken on demand): the trends of indicatorSeries, the CSV and
-- the bi schema's *_indicator_series tables (internal/indicators).
--
-- A period keeps the counts as they were (value, the true count) and whether
-- each cell was withheld: the true values never leave the hub (every table
-- cut from a period shows a withheld cell as null), and the suppression of
-- every later publication is decided against them, so that no period can be
-- differenced against another (disclosure.SuppressSeries).
CREATE TABLE indicator_periods (
    seq      bigserial PRIMARY KEY, -- the order of the periods
    period   text NOT NULL UNIQUE,  -- 2025-05 (monthly), 2025-W21, 2025-05-14, or a label given on demand
    kind     text NOT NULL CHECK (kind IN ('month', 'week', 'day', 'on_demand')),
    taken_at timestamptz NOT NULL DEFAULT now(),
    -- when each department's data was as of: {"core": "2025-05-31T...", ...}
    as_of    jsonb NOT NULL DEFAULT '{}',
    -- the count indicators the period holds (the catalogue of the day)
    counts   text[] NOT NULL DEFAULT '{}'
);

-- The grid units of a period, as they were (names, and for a later layout the
-- units that existed then).
CREATE TABLE indicator_period_units (
    period_seq bigint NOT NULL REFERENCES indicator_periods ON DELETE CASCADE,
    code       text COLLATE "C" NOT NULL,
    name       text NOT NULL,
    level      smallint NOT NULL CHECK (level BETWEEN 1 AND 4),
    PRIMARY KEY (period_seq, code)
);

-- The count indicators of a period at every unit (code '' is the grand
-- total); a missing row is a published 0.
CREATE TABLE indicator_period_cells (
    period_seq bigint NOT NULL REFERENCES indicator_periods ON DELETE CASCADE,
    name       text NOT NULL,
    code       text COLLATE "C" NOT NULL,
    value      bigint NOT NULL CHECK (value >= 0),
    suppressed boolean NOT NULL,
    PRIMARY KEY (period_seq, name, code)
);

-- +goose Down
DROP TABLE indicator_period_cells, indicator_period_units, indicator_periods;
