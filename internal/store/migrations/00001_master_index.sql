-- +goose Up
-- The grid registry: every level from district to responsibility grid in one table,
-- so that "within" is a prefix match on code at any level. Codes compare bytewise
-- (collate "C") so that a btree index serves both prefix matches and code order.
CREATE TABLE grid_units (
    code       text COLLATE "C" PRIMARY KEY,
    name       text     NOT NULL,
    level      smallint NOT NULL CHECK (level BETWEEN 1 AND 4),
    kind       text     CHECK (kind IN ('RESIDENTIAL', 'UNIT')),
    parent     text COLLATE "C" REFERENCES grid_units (code),
    households integer  NOT NULL DEFAULT 0,
    residents  integer  NOT NULL DEFAULT 0,
    warnings   text[]   NOT NULL DEFAULT '{}',
    geometry   jsonb    NOT NULL,
    CHECK (length(code) = CASE level WHEN 1 THEN 6 WHEN 2 THEN 9 WHEN 3 THEN 12 ELSE 15 END),
    CHECK ((level = 4) = (kind IS NOT NULL))
);
CREATE INDEX grid_units_parent_idx ON grid_units (parent, code);
CREATE INDEX grid_units_level_idx ON grid_units (level, code);

CREATE TABLE buildings (
    id        bigint PRIMARY KEY,
    grid_code text COLLATE "C" NOT NULL REFERENCES grid_units (code),
    address   text NOT NULL,
    lon       double precision NOT NULL,
    lat       double precision NOT NULL,
    floors    integer NOT NULL
);
CREATE INDEX buildings_grid_idx ON buildings (grid_code, id);

CREATE TABLE households (
    id          bigint PRIMARY KEY,
    grid_code   text COLLATE "C" NOT NULL REFERENCES grid_units (code),
    building_id bigint NOT NULL REFERENCES buildings (id),
    address     text NOT NULL,
    head_id     bigint
);
CREATE INDEX households_grid_idx ON households (grid_code, id);

-- Resident ID numbers are never stored in clear: id_hmac (keyed HMAC-SHA256 of the
-- normalised number) is the join and lookup key, id_enc (AES-GCM) is for display.
CREATE TABLE persons (
    id           bigint PRIMARY KEY,
    id_hmac      bytea NOT NULL UNIQUE,
    id_enc       bytea NOT NULL,
    name         text  NOT NULL,
    gender       text  NOT NULL CHECK (gender IN ('M', 'F')),
    birth_date   date  NOT NULL,
    ethnicity    text  NOT NULL,
    phone        text,
    household_id bigint NOT NULL REFERENCES households (id),
    relation     text  NOT NULL,
    grid_code    text COLLATE "C" NOT NULL REFERENCES grid_units (code)
);
CREATE INDEX persons_grid_idx ON persons (grid_code, id);
CREATE INDEX persons_household_idx ON persons (household_id);

CREATE TABLE organizations (
    id          bigint PRIMARY KEY,
    credit_code text  NOT NULL UNIQUE,
    name        text  NOT NULL,
    kind        text  NOT NULL,
    grid_code   text COLLATE "C" NOT NULL REFERENCES grid_units (code),
    address     text  NOT NULL,
    lon         double precision NOT NULL,
    lat         double precision NOT NULL,
    employees   integer NOT NULL,
    legal_rep   text  NOT NULL
);
CREATE INDEX organizations_grid_idx ON organizations (grid_code, id);

-- What is loaded: one row per seed, the newest is the registry's version.
CREATE TABLE seeds (
    version    bigserial PRIMARY KEY,
    area       text NOT NULL,
    seed       bigint NOT NULL,
    residents  integer NOT NULL,
    loaded_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE seeds, organizations, persons, households, buildings, grid_units;
