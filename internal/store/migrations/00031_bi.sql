-- +goose Up
-- The SQL surface for BI tools (FineBI, Superset, Power BI, Tableau,
-- Grafana): the schema bi holds the published indicator tables, under the
-- same disclosure control as GraphQL (a withheld cell is NULL with
-- suppressed true, never the value), and nothing else. The hub rewrites the
-- current tables after each fact sync, in one transaction, and adds a
-- period's rows to the *_indicator_series tables when it takes a snapshot
-- (internal/bi).
--
-- The role gridhub_bi may read bi and nothing else. It cannot log in: a BI
-- tool connects as a LOGIN role that is a member of it (`gridhub bi grant
-- --login superset [--within CODE]` makes one, without password; the
-- operator sets a password, ALTER ROLE superset PASSWORD '...', or admits a
-- client certificate in pg_hba.conf). Which units a login sees is row-level
-- security on the unit code: bi.access maps each login to a code prefix
-- (within '' is the whole area); a login without a row sees no unit.
CREATE SCHEMA bi;
COMMENT ON SCHEMA bi IS 'Published indicator tables for BI tools: withheld cells are NULL with suppressed = true';

-- The catalogue: one row per indicator.
CREATE TABLE bi.indicators (
    indicator   text PRIMARY KEY,
    label       text NOT NULL,  -- Chinese label, e.g. 低保人数
    unit        text NOT NULL,  -- 人, 户, 件 or %
    definition  text NOT NULL,
    department  text NOT NULL,  -- the department whose data it counts (core: the master index)
    kind        text NOT NULL CHECK (kind IN ('count', 'rate')),
    numerator   text,           -- for a rate
    denominator text,
    position    integer NOT NULL
);

-- The periods of the series, in order.
CREATE TABLE bi.periods (
    period   text PRIMARY KEY,
    kind     text NOT NULL,      -- month, week, day or on_demand
    taken_at timestamptz NOT NULL,
    position integer NOT NULL
);

-- What the current tables are: when they were refreshed, and when each
-- department's data they count was as of.
CREATE TABLE bi.refresh (
    refreshed_at timestamptz NOT NULL,
    data_version bigint NOT NULL,
    catalogue    text NOT NULL
);
CREATE TABLE bi.as_of (
    department text PRIMARY KEY,
    as_of      timestamptz
);

-- Which units each BI login sees: those whose code starts with within.
CREATE TABLE bi.access (
    login      name PRIMARY KEY,
    within     text NOT NULL DEFAULT '' CHECK (within ~ '^([0-9]{6}|[0-9]{9}|[0-9]{12}|[0-9]{15}|)$'),
    granted_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE bi.access ENABLE ROW LEVEL SECURITY;

-- The indicator tables, one per level, current and by period: one row per
-- unit and indicator. code is the unit's, street_code its street's
-- (township, 街道/镇), parent_code its parent's.
-- +goose StatementBegin
DO $$
DECLARE
    lvl text;
    t text;
BEGIN
    FOREACH lvl IN ARRAY ARRAY['district', 'street', 'community', 'grid'] LOOP
        t := lvl || '_indicators';
        EXECUTE format($f$CREATE TABLE bi.%I (
            code        text COLLATE "C" NOT NULL,
            name        text NOT NULL,
            parent_code text COLLATE "C",
            street_code text COLLATE "C",
            indicator   text NOT NULL,
            label       text NOT NULL,
            unit        text NOT NULL,
            value       double precision,
            suppressed  boolean NOT NULL,
            CHECK (suppressed = (value IS NULL)),
            PRIMARY KEY (code, indicator))$f$, t);
        EXECUTE format($f$CREATE TABLE bi.%I (
            period      text NOT NULL,
            taken_at    timestamptz NOT NULL,
            code        text COLLATE "C" NOT NULL,
            name        text NOT NULL,
            parent_code text COLLATE "C",
            street_code text COLLATE "C",
            indicator   text NOT NULL,
            label       text NOT NULL,
            unit        text NOT NULL,
            value       double precision,
            suppressed  boolean NOT NULL,
            CHECK (suppressed = (value IS NULL)),
            PRIMARY KEY (period, code, indicator))$f$, lvl || '_indicator_series');
        EXECUTE format('COMMENT ON TABLE bi.%I IS %L', t, 'Current indicators by ' || lvl || ': one row per unit and indicator; value NULL and suppressed true when withheld');
        EXECUTE format('COMMENT ON TABLE bi.%I IS %L', lvl || '_indicator_series', 'Indicators by ' || lvl || ' per period (bi.periods): one row per period, unit and indicator');
    END LOOP;
END;
$$;
-- +goose StatementEnd

-- The roles. Roles are cluster-wide: created only when missing (a concurrent
-- creator, or a migrating user without CREATEROLE, is tolerated: the DBA then
-- creates gridhub_bi NOLOGIN and migrates again).
-- +goose StatementBegin
DO $$
DECLARE
    t text;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gridhub_bi') THEN
        BEGIN
            CREATE ROLE gridhub_bi NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'cannot create role gridhub_bi (no CREATEROLE): create it (CREATE ROLE gridhub_bi NOLOGIN) and migrate again';
        END;
    END IF;
    FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'bi' AND c.relkind = 'r' AND c.relname LIKE '%\_indicator%' LOOP
        EXECUTE format('ALTER TABLE bi.%I ENABLE ROW LEVEL SECURITY', t);
    END LOOP;
    -- The grants of both roles are in internal/store/grants.sql, applied
    -- after every migration. A BI login sees the units under its within,
    -- and its own row of bi.access.
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'gridhub_bi') THEN
        FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'bi' AND c.relkind = 'r' AND c.relname LIKE '%\_indicator%' LOOP
            EXECUTE format($p$CREATE POLICY bi_scope ON bi.%I FOR SELECT TO gridhub_bi USING (EXISTS (
                SELECT FROM bi.access a WHERE a.login = session_user AND starts_with(code, a.within)))$p$, t);
        END LOOP;
        CREATE POLICY bi_own ON bi.access FOR SELECT TO gridhub_bi USING (login = session_user);
    END IF;
    -- The hub writes the tables (refresh, snapshots), as gridhub_app,
    -- which reads and rewrites every row.
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'gridhub_app') THEN
        FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'bi' AND c.relkind = 'r' AND c.relname LIKE '%\_indicator%' LOOP
            EXECUTE format('CREATE POLICY hub_writes ON bi.%I TO gridhub_app USING (true) WITH CHECK (true)', t);
        END LOOP;
    END IF;
END;
$$;
-- +goose StatementEnd
REVOKE ALL ON SCHEMA bi FROM PUBLIC;

-- +goose Down
DROP SCHEMA bi CASCADE;
