-- +goose Up
-- Synced department facts and the per-grid aggregates indicators are served from
-- (packages internal/factsync and internal/indicators).
--
-- No foreign keys to the master index: `gridhub seed` replaces it with TRUNCATE,
-- and facts outlive a reseed (the next sync re-resolves their grids).

-- One row per department record, as its fact feed last gave it. key_hmac is the
-- blind index of the normalised key (secret.Keys.Blind), for a person the same
-- value as persons.id_hmac, so resident ID numbers are never stored in clear.
-- grid_code is resolved at sync: the grid located from the record's lon/lat when
-- it has them (a 城管 case happens at a place), else the linked person's or
-- organisation's grid; NULL when the record links to no one (a missing or
-- mistyped ID number) and has no location. Such facts are kept but not counted.
CREATE TABLE facts (
    department text   NOT NULL,
    set        text   NOT NULL,
    key_hmac   bytea  NOT NULL,
    id         text   NOT NULL,
    entity     text   NOT NULL,
    -- The credit code of an organisation's record (public, unlike ID
    -- numbers): what re-links it after a reseed.
    org_code   text,
    record     jsonb  NOT NULL,
    grid_code  text COLLATE "C",
    person_id  bigint,
    -- gen is the department's full-sync generation the row was last written in:
    -- a completed full sync removes the rows it did not see (gen below its own).
    gen        bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (department, set, key_hmac, id)
);
-- Recomputing the aggregates of the grids a sync touched.
CREATE INDEX facts_grid_idx ON facts (department, grid_code);

-- Each department's sync progress. The watermark is stored in the transaction
-- that stores the facts read up to it, so it never runs ahead of them.
CREATE TABLE sync_state (
    department      text PRIMARY KEY,
    watermark       text NOT NULL DEFAULT '',
    -- A full sync in progress: the next sync starts over from the beginning
    -- until one completes (and removes the facts it did not see).
    full_pending    boolean NOT NULL DEFAULT false,
    gen             bigint NOT NULL DEFAULT 0,
    last_sync_at    timestamptz, -- last sync that completed: the data's as-of time
    last_attempt_at timestamptz, -- last sync started, successful or not
    last_full_at    timestamptz, -- last full sync that completed
    last_change_at  timestamptz, -- last sync that changed a fact
    rows            bigint NOT NULL DEFAULT 0,
    last_error      text
);

-- Per responsibility grid (level 4) counts of every count indicator; a missing
-- row is a zero. Queries roll grids up to any level by code prefix.
CREATE TABLE indicator_cells (
    name      text NOT NULL,
    grid_code text COLLATE "C" NOT NULL,
    value     bigint NOT NULL CHECK (value > 0),
    PRIMARY KEY (name, grid_code)
);

-- Grids whose aggregates of a department's facts are out of date: written in
-- the page transactions, drained when the sync finishes (or by the next one,
-- after a crash).
CREATE TABLE indicator_dirty (
    department text NOT NULL,
    grid_code  text COLLATE "C" NOT NULL,
    PRIMARY KEY (department, grid_code)
);

-- One row: the versions caches are keyed by.
CREATE TABLE fact_meta (
    id               boolean PRIMARY KEY DEFAULT true CHECK (id),
    -- Bumped by every completed sync: cached indicator tables carry as-of times.
    data_version     bigint NOT NULL DEFAULT 0,
    -- Bumped whenever indicator_cells change: the disclosure decisions depend
    -- on the counts only.
    cells_version    bigint NOT NULL DEFAULT 0,
    -- seeds.version the facts' grids were resolved against and the master-index
    -- counts computed for; core_date is the day ages were taken on.
    registry_version bigint NOT NULL DEFAULT 0,
    core_date        date,
    core_at          timestamptz
);
INSERT INTO fact_meta DEFAULT VALUES;

-- +goose Down
DROP TABLE fact_meta, indicator_dirty, indicator_cells, sync_state, facts;
