-- +goose Up
-- facts becomes partitioned by department: one partition per department
-- (facts_<code>, created by its first sync; factsync.PartitionName). Every
-- operation on facts is per department and their sizes differ fiftyfold, so a
-- department's recount reads its own partition, a full sync's sweep and bloat
-- stay in it, and its statistics are its own.
--
-- Facts are a copy of what the departments' feeds list: the old rows are not
-- moved but dropped, every department's sync starts again from the beginning
-- (a full sync), and the aggregates are recomputed from scratch (Prepare sees
-- registry_version 0 as a reseed).
DROP TABLE facts;
CREATE TABLE facts (
    department text   NOT NULL,
    set        text   NOT NULL,
    key_hmac   bytea  NOT NULL,
    id         text   NOT NULL,
    entity     text   NOT NULL,
    org_code   text,
    record     jsonb  NOT NULL,
    grid_code  text COLLATE "C",
    person_id  bigint,
    gen        bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (department, set, key_hmac, id)
) PARTITION BY LIST (department);
-- Recounting the grids a sync touched.
CREATE INDEX facts_grid_idx ON facts (grid_code);

DELETE FROM sync_state;
DELETE FROM indicator_dirty;
DELETE FROM indicator_cells;
UPDATE fact_meta SET registry_version = 0, core_date = NULL,
    data_version = data_version + 1, cells_version = cells_version + 1;

-- +goose Down
DROP TABLE facts;
CREATE TABLE facts (
    department text   NOT NULL,
    set        text   NOT NULL,
    key_hmac   bytea  NOT NULL,
    id         text   NOT NULL,
    entity     text   NOT NULL,
    org_code   text,
    record     jsonb  NOT NULL,
    grid_code  text COLLATE "C",
    person_id  bigint,
    gen        bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (department, set, key_hmac, id)
);
CREATE INDEX facts_grid_idx ON facts (department, grid_code);
DELETE FROM sync_state;
DELETE FROM indicator_dirty;
DELETE FROM indicator_cells;
UPDATE fact_meta SET registry_version = 0, core_date = NULL;
