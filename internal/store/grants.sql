-- What the hub's database role may do: gridhub_app, of which the LOGIN role
-- the hub connects as is a member (CREATE ROLE hub LOGIN IN ROLE gridhub_app).
-- Migrations, seeding and the operator commands run as the owner of the
-- tables; the hub never does. Every table of the schema is named here (a
-- test checks it), each with the least the hub needs; run after every
-- migration (Store.Migrate), so River's tables, created by its own
-- migrations, are covered too.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM gridhub_app;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM gridhub_app;
GRANT USAGE ON SCHEMA public TO gridhub_app;

-- The master index: read. A submitted report corrects a person's contact
-- and residence and a household's count of residents, and nothing else.
GRANT SELECT ON grid_units, buildings, households, persons, organizations, seeds TO gridhub_app;
GRANT UPDATE (phone, residence, away_since) ON persons TO gridhub_app;
GRANT UPDATE (resident_count) ON households TO gridhub_app;

-- The access ledger: read and append, never change or remove (and the
-- head, which only moves forward, per its trigger). No TRIGGER privilege
-- anywhere: the hub cannot disable the append-only triggers.
GRANT SELECT, INSERT ON audit_log TO gridhub_app;
GRANT SELECT, UPDATE ON audit_head TO gridhub_app;
-- Moving the persons index's pending list (migration 00034), off the
-- requests' path.
GRANT EXECUTE ON FUNCTION gridhub_audit_clean_pending() TO gridhub_app;

-- The unified report: submissions are stored and their deliveries tracked.
GRANT SELECT, INSERT, UPDATE ON report_submissions, report_deliveries TO gridhub_app;

-- 准入: departments draft templates (changed until submitted); the
-- streets' decisions are final.
GRANT SELECT, INSERT, UPDATE (title, definition, streets, status, updated_at, submitted_at) ON report_template_drafts TO gridhub_app;
GRANT SELECT, INSERT ON report_template_decisions TO gridhub_app;

-- Synced facts and the indicator cells computed from them: the hub's own
-- copy, rewritten by every sync. Partitions are made and analyzed through
-- the functions of migration 00008.
GRANT SELECT, INSERT, UPDATE, DELETE ON facts, sync_state, indicator_cells, indicator_dirty TO gridhub_app;
GRANT SELECT, UPDATE ON fact_meta TO gridhub_app;
GRANT EXECUTE ON FUNCTION gridhub_fact_partition(text, text), gridhub_analyze_fact_partition(text) TO gridhub_app;

-- The grid's daily work: patrols and the 民情日记 are appended, never
-- changed.
GRANT SELECT, INSERT ON patrols, diary_entries TO gridhub_app;
-- Events: stored with their photos; the delivery and the case's stage are
-- tracked on the event row.
GRANT SELECT, INSERT ON grid_event_photos TO gridhub_app;
GRANT SELECT, INSERT, UPDATE (status, job_id, attempts, last_error, delivered_at, case_number, stage, deadline,
    closed_on, stage_changed_at, updated_at) ON grid_events TO gridhub_app;

-- The job queue (River): its workers fetch, update and clean jobs, elect a
-- leader and keep their queues; its migrations stay the owner's. Which
-- tables it has depends on its version, so they are granted as found.
DO $$
DECLARE t text;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables
        WHERE schemaname = current_schema() AND tablename LIKE 'river\_%' AND tablename <> 'river_migration'
    LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO gridhub_app', t);
    END LOOP;
END $$;
GRANT SELECT ON river_migration TO gridhub_app;

-- Readiness reads which migrations are applied.
GRANT SELECT ON goose_db_version TO gridhub_app;

GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO gridhub_app;

-- Record linkage (migration 00010): links are rewritten by every linkage
-- run; a reviewer's decisions are recorded and may be changed by a later
-- decision, never removed.
GRANT SELECT, INSERT, UPDATE, DELETE ON links TO gridhub_app;
GRANT SELECT, INSERT, UPDATE ON link_decisions TO gridhub_app;

-- Findings (migration 00011): opened, updated and closed by each refresh,
-- never removed (a closed finding is its history).
GRANT SELECT, INSERT, UPDATE ON findings TO gridhub_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON finding_kinds TO gridhub_app;

-- The periods of the indicator series (migration 00030): a snapshot is
-- taken by the hub (monthly, or asked for by an admin) and never changed.
-- The bi schema's grants are in migration 00031 (grants here are for public).
GRANT SELECT, INSERT ON indicator_periods, indicator_period_units, indicator_period_cells TO gridhub_app;

-- The suppression decided for each family of counts (migration 00032):
-- written once per version of the counts, pruned after an hour.
GRANT SELECT, INSERT, DELETE ON indicator_decisions TO gridhub_app;

-- The bi schema (migration 00031), for BI tools. The hub rewrites the
-- published indicator tables, the catalogue, the periods and the as-of
-- times after each sync; bi.access, which logins see which units, is written
-- by the operator (`gridhub bi grant`, as the owner), never by the hub.
-- gridhub_bi, the role BI logins are members of, reads bi and nothing else:
-- no grant anywhere in public, and row-level security (migration 00031)
-- limits each login to the units under its scope.
REVOKE ALL ON ALL TABLES IN SCHEMA bi FROM gridhub_app;
GRANT USAGE ON SCHEMA bi TO gridhub_app;
GRANT SELECT, INSERT, DELETE ON bi.indicators, bi.periods, bi.refresh, bi.as_of,
    bi.district_indicators, bi.street_indicators, bi.community_indicators, bi.grid_indicators,
    bi.district_indicator_series, bi.street_indicator_series, bi.community_indicator_series, bi.grid_indicator_series
    TO gridhub_app;
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'gridhub_bi') THEN
        REVOKE ALL ON ALL TABLES IN SCHEMA public FROM gridhub_bi;
        REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM gridhub_bi;
        REVOKE ALL ON ALL TABLES IN SCHEMA bi FROM gridhub_bi;
        GRANT USAGE ON SCHEMA bi TO gridhub_bi;
        GRANT SELECT ON ALL TABLES IN SCHEMA bi TO gridhub_bi;
    END IF;
END $$;
