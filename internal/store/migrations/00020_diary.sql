-- +goose Up
-- The grid's daily work, part one (package internal/gridwork): patrols of a
-- responsibility grid and the 民情日记 a grid worker keeps of visits.
--
-- No foreign keys to the master index (households): a reseed replaces it
-- with TRUNCATE, and the diary outlives a reseed.

-- One row a patrol: who walked which grid, when. The idempotency key is
-- unique: a retried request finds the stored patrol.
CREATE TABLE patrols (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key text        NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 8 AND 128),
    grid_code       text COLLATE "C" NOT NULL CHECK (grid_code ~ '^[0-9]{15}$'),
    worker          text        NOT NULL,
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    note            text        CHECK (length(note) <= 2000),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
-- Coverage by grid and day, and listings by grid prefix.
CREATE INDEX patrols_grid_idx ON patrols (grid_code, started_at);

-- One row a diary entry: a visit (in a patrol or not), the households
-- visited, what was heard (a category of the configured catalogue and free
-- text), the help given, and whether it needs following up.
CREATE TABLE diary_entries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key text        NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 8 AND 128),
    patrol_id       bigint      REFERENCES patrols (id),
    grid_code       text COLLATE "C" NOT NULL CHECK (grid_code ~ '^[0-9]{15}$'),
    worker          text        NOT NULL,
    visited_at      timestamptz NOT NULL,
    household_ids   bigint[]    NOT NULL DEFAULT '{}' CHECK (cardinality(household_ids) <= 50),
    category        text        NOT NULL,
    heard           text        NOT NULL CHECK (length(heard) BETWEEN 1 AND 2000),
    help            text        CHECK (length(help) <= 2000),
    follow_up       boolean     NOT NULL DEFAULT false,
    follow_up_note  text        CHECK (length(follow_up_note) <= 2000),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX diary_entries_grid_idx ON diary_entries (grid_code, visited_at);

-- +goose Down
DROP TABLE diary_entries, patrols;
