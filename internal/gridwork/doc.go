// Package gridwork is the grid's daily work (网格日常工作) beside the unified
// report: patrols of a responsibility grid and the 民情日记 kept of visits
// (diary.go); events and broken components reported from the grid to the
// department that handles them, with photos, delivered through the same
// River outbox as reports and followed through the department's fact feed
// (events.go, deliver.go, follow.go); and the 考核 figures of grids,
// communities and streets over a period (assess.go).
//
// What is configuration lives in gridwork.yaml (Config): the diary's
// category catalogue, which department takes events and through which of
// its writeback fields, where its answer carries the case number, which
// fields of its fact feed follow the case, the event classes and the photo
// limits; which streets approved the configured report templates (准入);
// and which reports are due per household or person (考核). No department
// code is written in this package.
//
// Row scope (which grids a caller may record in or read) is the caller's
// (graph): the services take the grid prefixes the caller may see.
package gridwork

// imageTypes are the photo types the hub can recognise by their first bytes.
var imageTypes = []string{"image/jpeg", "image/png", "image/webp"}
