#!/bin/sh
# Runs once, when the Postgres volume is new: the roles the hub needs. The
# owner (POSTGRES_USER) runs the migrations; gridhub_app is what grants.sql
# allows; gridhub_hub is the LOGIN role the hubs connect as.
set -eu
psql -v ON_ERROR_STOP=1 -v hubpw="$GRIDHUB_HUB_PASSWORD" --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE gridhub_app NOLOGIN;
CREATE ROLE gridhub_hub LOGIN PASSWORD :'hubpw' IN ROLE gridhub_app;
SQL
