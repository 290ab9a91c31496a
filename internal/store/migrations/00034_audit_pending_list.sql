-- +goose Up
-- The ledger's index of the persons each entry read is a GIN index, which
-- takes new entries into a pending list and moves them into the index in
-- bulk. Left to itself, the insert that finds the list over its limit
-- moves it, holding the ledger's one writer (and every request waiting on
-- its entry) for tens of milliseconds; a page of a hundred persons fills the
-- default 4 MB in under a second under load. The hub's ledger moves the
-- list itself, off the requests' path, through this function (it runs as
-- its owner, the migrating role: only an index's owner may move its list),
-- and the larger limit leaves that work to it.
ALTER INDEX audit_log_persons_idx SET (gin_pending_list_limit = 32768);
-- +goose StatementBegin
CREATE FUNCTION gridhub_audit_clean_pending() RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT gin_clean_pending_list('audit_log_persons_idx'::regclass)
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION gridhub_audit_clean_pending() FROM PUBLIC;

-- +goose Down
DROP FUNCTION gridhub_audit_clean_pending();
ALTER INDEX audit_log_persons_idx RESET (gin_pending_list_limit);
