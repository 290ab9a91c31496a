-- +goose Up
-- The blinded ID number of the person a row is linked to, kept with the
-- link: a page's department sections ask for the linked rows of a hundred
-- persons by their blinded numbers, and finding them in the small index of
-- linked rows costs far less than finding each person in the master index
-- first. Whoever writes person_id writes person_hmac with it (linkage's
-- store, and LoadCity when the master index is replaced).
ALTER TABLE links ADD COLUMN person_hmac bytea;
UPDATE links l SET person_hmac = p.id_hmac FROM persons p WHERE p.id = l.person_id;
CREATE INDEX links_person_hmac_idx ON links (person_hmac) WHERE outcome = 'LINKED';

-- +goose Down
DROP INDEX links_person_hmac_idx;
ALTER TABLE links DROP COLUMN person_hmac;
