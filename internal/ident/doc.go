// Package ident parses, validates, builds and masks the identifiers that
// gridhub handles: resident identity card numbers (GB 11643-1999), unified
// social credit codes of organisations (GB 32100-2015) and disability
// certificate numbers (残疾人证).
//
// Resident ID numbers are personal data. Nothing in this package puts a full
// number into an error message, and the Mask* helpers and Redact exist so that
// callers can keep them out of logs too: errors and log lines are retained far
// longer, and read by far more people, than the records they describe.
//
// Every validation failure is a *RuleError naming the rule that failed, so
// callers (GraphQL resolvers, import jobs) can report "which rule" to a grid
// worker without string matching.
package ident
