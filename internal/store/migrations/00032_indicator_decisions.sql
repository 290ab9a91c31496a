-- +goose Up
-- The suppression decided for a family of related count indicators, for one
-- version of the counts: a pure function of the cells, the registry, the
-- earlier periods, the counts' definitions and rules. Deciding it is the
-- expensive part of an indicator table (a city's findings family takes
-- seconds), so whichever replica decides first keeps it here and every
-- other replica, and the same one after a restart, reads it. Rows older
-- than an hour are pruned when a new one is written: by then the counts
-- have moved on, and a replica still on that version decides again.
CREATE TABLE indicator_decisions (
    key        text PRIMARY KEY,           -- internal/indicators decisionKey
    decided_at timestamptz NOT NULL DEFAULT now(),
    withheld   jsonb NOT NULL              -- count name -> the withheld unit codes
);
CREATE INDEX indicator_decisions_decided_idx ON indicator_decisions (decided_at);

-- +goose Down
DROP TABLE indicator_decisions;
