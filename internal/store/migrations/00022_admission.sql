-- +goose Up
-- 准入 (the 社区工作准入制): a report template a department drafts reaches
-- the communities of a street only once that street approved it (package
-- internal/report, admission.go). Each version is approved anew.

-- One row a drafted template version: its definition (title and sections of
-- catalogue fields, the same shape as a report/templates file), the streets
-- (9-digit codes) it is meant for, and its step: DRAFT (the department may
-- still change it) or SUBMITTED (the streets decide).
CREATE TABLE report_template_drafts (
    template     text        NOT NULL CHECK (template ~ '^[a-z][a-z0-9_]{0,63}$'),
    version      integer     NOT NULL CHECK (version > 0),
    department   text        NOT NULL,
    title        text        NOT NULL,
    definition   jsonb       NOT NULL,
    streets      text[]      NOT NULL CHECK (cardinality(streets) BETWEEN 1 AND 100),
    status       text        NOT NULL CHECK (status IN ('DRAFT', 'SUBMITTED')),
    drafted_by   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    submitted_at timestamptz,
    PRIMARY KEY (template, version),
    CHECK ((status = 'SUBMITTED') = (submitted_at IS NOT NULL))
);

-- One row a street's decision on a submitted version: final (a rejected
-- version is drafted again as a new one), with the reason for a rejection.
CREATE TABLE report_template_decisions (
    template   text        NOT NULL,
    version    integer     NOT NULL,
    street     text        NOT NULL CHECK (street ~ '^[0-9]{9}$'),
    decision   text        NOT NULL CHECK (decision IN ('APPROVED', 'REJECTED')),
    reason     text        CHECK (length(reason) <= 500),
    decided_by text        NOT NULL,
    decided_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (template, version, street),
    FOREIGN KEY (template, version) REFERENCES report_template_drafts (template, version),
    CHECK (decision = 'APPROVED' OR reason IS NOT NULL)
);

-- +goose Down
DROP TABLE report_template_decisions, report_template_drafts;
