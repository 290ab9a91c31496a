-- +goose Up
-- The hub runs as a role that owns nothing (gridhub_app, store/grants.sql):
-- it cannot create tables or analyze them. A department's partition of facts
-- is created by its first sync, and re-analyzed after a big change, through
-- these two functions, which run as their owner (the migrating role) and do
-- exactly that and nothing else: the partition name must be facts_ followed
-- by lower-case letters, digits and underscores (factsync.PartitionName).
-- +goose StatementBegin
CREATE FUNCTION gridhub_fact_partition(part text, dept text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF part !~ '^facts_[a-z0-9_]{1,56}$' THEN
        RAISE EXCEPTION 'gridhub_fact_partition: % is not a partition name of facts', part;
    END IF;
    IF to_regclass(part) IS NOT NULL THEN
        RETURN;
    END IF;
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF facts FOR VALUES IN (%L)', part, dept);
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION gridhub_analyze_fact_partition(part text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF part !~ '^facts_[a-z0-9_]{1,56}$' OR to_regclass(part) IS NULL THEN
        RAISE EXCEPTION 'gridhub_analyze_fact_partition: % is not a partition of facts', part;
    END IF;
    EXECUTE format('ANALYZE %I', part);
END;
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION gridhub_fact_partition(text, text), gridhub_analyze_fact_partition(text) FROM PUBLIC;

-- +goose Down
DROP FUNCTION gridhub_fact_partition(text, text), gridhub_analyze_fact_partition(text);
