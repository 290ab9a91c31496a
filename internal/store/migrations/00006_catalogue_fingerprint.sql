-- +goose Up
-- What the stored indicator counts are counts of: the fingerprint of the
-- count indicators' definitions they were computed for. When the catalogue
-- in force has another (an indicator added, removed or redefined in the
-- configuration), the syncer recomputes every count (factsync.Prepare).
ALTER TABLE fact_meta ADD COLUMN catalogue_fingerprint text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE fact_meta DROP COLUMN catalogue_fingerprint;
