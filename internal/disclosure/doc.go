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
//   - Complements are the smallest published positive cell among the
//     candidates, ties broken by code, to lose as little information as
//     possible; a zero is never preferred as a complement because it adds
//     nothing to the interval of the cells it protects.
//   - Rates are withheld when either count is ([SuppressRate]).
//
// # Limitations
//
//   - Each indicator is protected on its own. Indicators related by
//     arithmetic (men + women = residents, or 60-79 + 80+ = 60+) give an
//     attacker more equations than one tree has; such families must be
//     suppressed jointly, which this package does not do.
//   - Only additive counts are accepted: a count of distinct persons that
//     can belong to several units (so parent < sum of children) is rejected.
//   - Successive publications (last month and this month, or an old and a new
//     grid layout) can be differenced; the package sees one snapshot.
//   - The complements are a greedy choice, not a minimum-loss one (optimal
//     cell suppression is NP-hard in general).
//   - Complementary cells themselves are not protected beyond exact recovery:
//     their intervals can be narrow, which is harmless because they are not
//     small counts.
package disclosure
