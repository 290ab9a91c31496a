// Package report is the unified report (一表通): the field catalogue, the
// versioned report templates drawn from it, drafts pre-filled from what the
// departments hold, validated submissions, and their delivery to each
// department through River, the Postgres job queue.
//
// # Catalogue
//
// The catalogue (catalogue.yaml, embedded; LoadCatalogueFile reads another) is
// data: every reportable field, keyed "department.set.field" for a department's
// field (the unified names of the department's mapping file, e.g.
// "health.floating.inflowDate") or "core.person.phone" for the hub's own master
// index. Each field has a Chinese label, its owning department, a type (string,
// int, decimal, date, bool, enum, idnumber) with its validation (enum values,
// min/max, not_future, pattern, max_length, id_kind), required and
// required_if, a sensitivity (public, personal, sensitive) and where it is
// written back: a department and its "set.field" target, or, for core fields,
// a column of the master index (person.phone, person.residence,
// person.awaySince, household.residentCount) that Submit updates in its own
// transaction.
//
// # Templates
//
// A template (templates/<id>.v<version>.yaml) is a titled list of sections of
// catalogue fields, with an optional per-template required override. Every
// version stays loadable, so old submissions keep their labels; Templates lists
// the newest version of each template that is not retired. A submission names
// its template and version: an unknown or retired version is BAD_USER_INPUT.
//
// # Drafts and submissions
//
// Draft reads each department the template draws on once for the subject (one
// Reader.Read per department, in parallel) and fills every field with what the
// department holds now, with its source and as-of time. A department that does
// not answer leaves its fields empty (or filled from the federation's recent
// copy, marked stale) and is listed in Draft.Unavailable: a draft never fails
// because of one department.
//
// Submit validates every value at once (a *ValidationError lists every
// failure with its input path), computes a fresh draft, and compares: a
// department receives only its own fields, and only those that changed
// against that draft (every submitted field of a department that did not
// answer counts as changed). In one transaction it stores the submission with
// its values and draft snapshot, creates one delivery (PENDING) and one River
// job per department with changes, and applies the core fields to the master
// index. The idempotency key is unique: the same key with the same payload
// returns the stored submission; with another payload it is BAD_USER_INPUT.
//
// # Delivery
//
// NewClient builds the River client that works one queue per department
// ("deliver_<department>"). Its worker writes the department's fields through
// Writers with the idempotency key "<submission id>:<department>", stable
// across retries and redeliveries, so at-least-once execution applies once at
// the department. A failure is retried with exponential backoff (RETRYING);
// a permanent error (connectors.PermanentError) or the last attempt ends in
// FAILED, which Redeliver (admin) turns back into PENDING with a new job.
// Success marks the delivery DELIVERED and completes the job in one
// transaction.
package report
