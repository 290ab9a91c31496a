-- +goose Up
-- The audit ledger (package internal/audit): one row per read of a person's record,
-- report submission or export, hash-chained in seq order. Each row's hash covers its
-- content and prev_hash (the previous row's hash; 32 zero bytes for seq 1), so an
-- edited, removed or reordered row breaks the chain that `gridhub verify-audit` walks.
-- The canonical encoding the hash is taken over is documented in internal/audit.
CREATE TABLE audit_log (
    seq            bigint      PRIMARY KEY CHECK (seq > 0),
    at             timestamptz NOT NULL,
    actor          text        NOT NULL,
    roles          text[]      NOT NULL,
    department     text        NOT NULL,
    purpose        text        NOT NULL,
    action         text        NOT NULL,
    -- Person surrogate ids (persons.id as decimal text), never resident ID numbers.
    persons        text[]      NOT NULL,
    fields         text[]      NOT NULL,
    operation_hash text        NOT NULL,
    trace_id       text        NOT NULL,
    prev_hash      bytea       NOT NULL,
    hash           bytea       NOT NULL
);
-- The auditors' queries, newest first: by actor, by person, by time window.
CREATE INDEX audit_log_actor_idx ON audit_log (actor, seq);
CREATE INDEX audit_log_persons_idx ON audit_log USING gin (persons);
CREATE INDEX audit_log_at_idx ON audit_log (at);

-- The chain head: the last appended seq and its hash, updated in the transaction that
-- appends. Without it, deleting the newest rows would leave a shorter chain that is
-- still internally valid; with it, verify-audit sees that the tail is gone.
CREATE TABLE audit_head (
    id   boolean PRIMARY KEY DEFAULT true CHECK (id),
    seq  bigint NOT NULL CHECK (seq >= 0),
    hash bytea  NOT NULL
);
INSERT INTO audit_head (seq, hash) VALUES (0, '\x0000000000000000000000000000000000000000000000000000000000000000');

-- Rows are never changed or removed, even by the table's owner: a trigger refuses it.
-- (Whoever can disable the trigger can still tamper; the hash chain is what exposes that.)
-- +goose StatementBegin
CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
        USING HINT = 'audit entries are never changed or removed; gridhub verify-audit checks the chain';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- The head only moves forward and is never removed: rolling it back would hide a
-- truncated tail.
-- +goose StatementBegin
CREATE FUNCTION audit_head_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'audit_head: % is not allowed', TG_OP;
    END IF;
    IF NEW.seq <= OLD.seq THEN
        RAISE EXCEPTION 'audit_head only moves forward: % -> % is not allowed', OLD.seq, NEW.seq;
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_head_forward_only_row
    BEFORE UPDATE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_head_forward_only();
CREATE TRIGGER audit_head_forward_only_stmt
    BEFORE DELETE OR TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_head_forward_only();

-- The hub's role. Production runs the hub as a LOGIN role that is a member of
-- gridhub_app (CREATE ROLE hub LOGIN IN ROLE gridhub_app), not as the owner of the
-- tables: the role may read and append the ledger but never UPDATE, DELETE or
-- TRUNCATE it, so a compromised hub cannot rewrite history. Migrations run as the
-- owner. Roles are cluster-wide, so the role is created only when missing (and a
-- concurrent creator, or a migrating user without CREATEROLE, is tolerated: the DBA
-- then creates it and re-grants).
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gridhub_app') THEN
        BEGIN
            CREATE ROLE gridhub_app NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'cannot create role gridhub_app (no CREATEROLE): create it and grant it SELECT, INSERT on audit_log and SELECT, UPDATE on audit_head';
        END;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'gridhub_app') THEN
        REVOKE ALL ON audit_log, audit_head FROM gridhub_app;
        GRANT SELECT, INSERT ON audit_log TO gridhub_app;
        -- UPDATE on the head is what moves it (and what SELECT ... FOR UPDATE needs);
        -- the trigger above keeps it moving forward only.
        GRANT SELECT, UPDATE ON audit_head TO gridhub_app;
    END IF;
END;
$$;
-- +goose StatementEnd
REVOKE ALL ON audit_log, audit_head FROM PUBLIC;

-- +goose Down
-- The role is cluster-wide and may serve other databases: it stays.
DROP TABLE audit_log, audit_head;
DROP FUNCTION audit_log_append_only(), audit_head_forward_only();
