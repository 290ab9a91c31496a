// Package disclosure is the statistical disclosure control of published
// indicators: it decides which counts of an indicator are withheld (published
// as null with suppressed: true) so that no small count can be read off the
// data, directly or by arithmetic on what is published. The GraphQL API and the
// CSV export apply the same decision, so that neither is an easier attack than
// the other.
//
// # Model
//
// An indicator is a count at every unit of the hierarchy district -> township
// -> community -> responsibility grid, plus the grand total over the top level.
// Because indicators(level, within) lets a user read every level, an attacker
// sees, for every published table, the published cells of a unit and of all
// its children, and can use every additivity equation parent = sum(children)
// at once. Suppression is therefore decided for the whole tree of one
// indicator at a time ([Suppress]), never table by table: a complement chosen
// in one table (the grids of a community) can leave a single suppressed cell
// in another (the communities of the township), and the loop runs until no
// table needs more.
//
// Counts can also be related by definition, in every unit: households on 低保
// are at most the persons on 低保 (the households of those persons), 80+ at
// most 60+, open cases at most cases; or one count is the sum of others. An
// attacker who knows the definitions uses these relations across the trees:
// with households 4 and 7 withheld under a published 11, and persons 7
// published beside the 7, the 7 is at most 7 and the 4 at least 4, though
// each tree alone protects it. Related counts are therefore decided together,
// as one family ([SuppressFamily]), over all their trees at once.
//
// # Rules
//
//   - Primary suppression: a count with 0 < v < threshold (default 5); zeros
//     too when [Rule.SuppressZero] is set.
//   - Exact recovery: in every equation parent = sum(children), the number of
//     suppressed cells (parent and children together) is 0 or at least 2. For
//     a tree this is both necessary and sufficient for no suppressed cell to be
//     determined by the equations ([Recoverable] checks it independently, by
//     exact rational elimination).
//   - Interval protection: an attacker also knows that counts are
//     non-negative integers, which bounds suppressed cells. Two suppressed
//     cells 1 and 2 below a published 20 with 17 beside them cannot be told
//     apart, but together they are exactly 3: both are proven to be at most 3.
//     So below every published cell, the suppressed cells holding a primary
//     cell must together carry at least the threshold. The effect is that
//     every primary cell's feasible interval is [0, hi] with hi >= threshold:
//     the published data prove neither that the count is non-zero nor that it
//     is small ([Intervals] computes the intervals exactly).
//   - Related counts: every primary cell of a family keeps that property
//     under everything an attacker of the family knows: the published cells
//     of every count at every level, the equations of every count, the
//     relations at every unit, non-negativity and integrality. Some table of
//     whole numbers consistent with all of it has the cell at 0, and some has
//     it at or above its threshold (tau-ARGUS calls these the lower and upper
//     protection levels).
//   - Complements are the smallest published positive cell among the
//     candidates, ties broken by code, to lose as little information as
//     possible; a zero is never preferred as a complement because it adds
//     nothing to the interval of the cells it protects.
//   - Rates are withheld when either count is ([SuppressRate]).
//
// # Related counts
//
// [SuppressFamily] first applies each count's own rules (as [Suppress]), then
// checks the family and adds complements until the check passes:
//
//   - The withheld cells split into components that an attacker must solve
//     together: cells linked by an equation, or by a relation at a unit.
//     Relations are stated at the units without children and follow at the
//     others from the equations. A relation that every point of its cells'
//     own-tree intervals satisfies is implied by the trees and left out, so
//     that a component no relation constrains is one tree's, which the tree's
//     rules protect exactly.
//   - In every other component, each primary cell needs two tables: one with
//     the cell at 0 and one with it at or above its threshold, each agreeing
//     with every published cell, equation and relation (and with the other
//     withheld cells at their true values). A table is first sought one
//     count at a time: the related cells in the way moved first (a subset
//     brought to 0 before its superset, a superset raised before its
//     subset), each within its own tree with its leaves boxed by the
//     relations, which intervals solve exactly. Failing that, by linear
//     programming over the component: the simplex method started from the
//     true table, which solves every program, and, where an answer has
//     fractions, a short depth-first search over whole numbers near it.
//     Whatever finds it, a table counts only once rounded to whole numbers
//     and checked exactly against every constraint, so a cell is never
//     declared protected that an attacker could pin: the check is exact or
//     errs towards withholding. For two counts related by a subset, or a sum
//     and its parts, the programs are network flows, whose vertices are whole
//     numbers: a table is found whenever one exists. For longer chains and
//     several subsets of one count the programs can have fractional
//     vertices, and a table that exists could be missed, which would cost an
//     extra complement, never protection.
//   - A primary cell without its two tables gets one complement: among the
//     published cells of its component's constraints, those that the failed
//     program's duals say can help (the Farkas certificate of the failure),
//     the one that withholds the fewest cells in all (its tree's rules add
//     complements of their own), then the smallest positive, then by code. A
//     zero can be chosen here: bounded by a related count rather than by
//     itself, it can have room. From a cell's third round without its
//     tables, the candidates are narrowed to its own constraints where one
//     of them can help: cheap cells far away can each add so little room
//     that one pinned cell would take a complement a round for hundreds of
//     rounds. Every failing cell of a round gets its complement in that
//     round; each complement's tree's rules run again, and the check
//     repeats over the components that still hold a primary cell without
//     evidence. Evidence is never lost, since withholding more only adds
//     tables, so the loop ends, at the latest with everything withheld.
//   - [Protection] returns the two tables of every primary cell of a
//     suppression, for an audit that need not trust this package.
//
// # Periods
//
// A series publishes the same counts period after period (monthly
// snapshots). A cell withheld in one period and published in the next at
// the same value is disclosed, and so is one pinned by complements that
// moved between periods: [SuppressSeries] keeps each unchanged cell in the
// state it had, and checks the periods together, the earlier ones frozen,
// adding complements to the new one only.
//
// # Limitations
//
//   - Only declared relations are protected against. The catalogue must
//     declare every relation that holds by definition; one that holds by
//     accident of the data (every grid has more residents than persons on
//     低保) is not known to an attacker as a certainty, but a relation that
//     holds by definition and is not declared is not protected against.
//     Relations are linear and per unit (at most, sum of); others (a count at
//     most half another) are not modelled.
//   - Joint protection costs more than one tree's rules: twenty related
//     counts over a city of 1,336 grids take about 95 ms, against about 4 ms
//     each alone, the cost being in the rarest families (BENCHMARKS.md,
//     "Inference-safe suppression"). It runs once per version of the counts.
//   - Only additive counts are accepted: a count of distinct persons that
//     can belong to several units (so parent < sum of children) is rejected.
//   - Successive publications are protected as a series ([SuppressSeries]):
//     each period is decided against the earlier ones, an attacker being
//     taken to know which cells did not change from one period to the next.
//     Periods of another grid layout are not linked (a re-planned layout
//     starts a new series), and what changes between periods is not
//     modelled beyond that (an attacker who knows a change's exact size
//     from elsewhere knows more). The check of a series costs far more than
//     one family's (BENCHMARKS.md, "Indicator series").
//   - The complements are a greedy choice, not a minimum-loss one (optimal
//     cell suppression is NP-hard in general).
//   - Complementary cells themselves are not protected beyond exact recovery
//     within their tree: their intervals can be narrow, and a relation can
//     even determine one (a sum with its other parts published), which is
//     harmless because they are not small counts.
package disclosure
