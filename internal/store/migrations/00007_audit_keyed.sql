-- +goose Up
-- The audit chain is keyed (package internal/audit): new entries are hashed with
-- HMAC-SHA256 under a key derived from the hub's master key, which the database does
-- not hold, so a superuser who edits an entry can no longer recompute the chain after
-- it. alg says how each entry's hash was taken: 1, plain SHA-256 (every entry written
-- before this migration), or 2, HMAC-SHA256. `gridhub verify-audit` accepts alg 1 only
-- before the first alg 2 entry: an unkeyed entry after a keyed one is a downgrade.
--
-- The default fills the existing rows (without rewriting them or firing the
-- append-only trigger) and is then dropped: an insert must name its algorithm. A hub
-- binary from before this migration, which does not, has its appends refused rather
-- than leaving unkeyed entries after keyed ones.
ALTER TABLE audit_log ADD COLUMN alg smallint NOT NULL DEFAULT 1 CHECK (alg IN (1, 2));
ALTER TABLE audit_log ALTER COLUMN alg DROP DEFAULT;

-- +goose Down
-- This loses which entries are keyed: an older hub's verify-audit then reports the
-- first keyed entry as edited, and Up again marks every entry unkeyed (alg 1), so a
-- ledger that holds keyed entries should not go down through this step.
ALTER TABLE audit_log DROP COLUMN alg;
