-- +goose Up
-- Record linkage (internal/linkage): department rows whose ID number is
-- missing or does not validate are placed on master-index persons by a
-- corrected ID number or a scored match, and the hub keeps every decision.

-- What a fact's record says about who it is, besides its key (the record
-- set's identity block: name, sex, birthDate, address, phone, and for a broken
-- ID number the birth date and sex it still embeds). key_invalid marks a fact
-- whose ID number is missing or does not validate: its key_hmac is then the
-- blind index of the number as written. corrections are the blind indexes of
-- the valid numbers one mistyped character away from it.
ALTER TABLE facts
    ADD COLUMN identity    jsonb,
    ADD COLUMN key_invalid boolean NOT NULL DEFAULT false,
    ADD COLUMN corrections bytea[];

-- The master index by birth date and by name: the blocks a scored match
-- compares within.
CREATE INDEX persons_birth_idx ON persons (birth_date);
CREATE INDEX persons_name_idx ON persons (name);

-- One row per department row that linkage has placed or tried to: the
-- outcome (LINKED, REVIEW: a candidate waits for a person to decide,
-- UNLINKED: no candidate is good enough), how (CORRECTED_ID, MATCH, REVIEWED),
-- the score and the evidence per field. person_id is the linked or proposed
-- person; grid_code that person's grid, the scope a reviewer must hold.
CREATE TABLE links (
    department text   NOT NULL,
    set        text   NOT NULL,
    fact_id    text   NOT NULL,
    key_hmac   bytea  NOT NULL,
    person_id  bigint,
    outcome    text   NOT NULL CHECK (outcome IN ('LINKED', 'REVIEW', 'UNLINKED')),
    method     text   CHECK (method IN ('CORRECTED_ID', 'MATCH', 'REVIEWED')),
    score      double precision,
    evidence   jsonb  NOT NULL DEFAULT '[]',
    grid_code  text COLLATE "C",
    linked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (department, set, fact_id),
    CHECK ((outcome = 'UNLINKED') = (person_id IS NULL))
);
CREATE INDEX links_person_idx ON links (person_id) WHERE outcome = 'LINKED';
CREATE INDEX links_review_idx ON links (grid_code, department, set, fact_id) WHERE outcome = 'REVIEW';

-- A reviewer's decision on a (department row, person) pair: it outlives every
-- re-sync and re-link, which never propose a rejected pair again and keep a
-- confirmed one.
CREATE TABLE link_decisions (
    department text   NOT NULL,
    set        text   NOT NULL,
    fact_id    text   NOT NULL,
    person_id  bigint NOT NULL,
    decision   text   NOT NULL CHECK (decision IN ('CONFIRMED', 'REJECTED')),
    actor      text   NOT NULL,
    decided_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (department, set, fact_id, person_id)
);

-- +goose Down
DROP TABLE link_decisions, links;
DROP INDEX persons_name_idx, persons_birth_idx;
ALTER TABLE facts DROP COLUMN corrections, DROP COLUMN key_invalid, DROP COLUMN identity;
