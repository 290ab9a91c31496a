package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/gridhub/gridhub/internal/ident"
)

// Household relations (与户主关系) as the household register records them.
const (
	RelHead       = "户主"
	RelSpouse     = "配偶"
	RelChild      = "子女"
	RelParent     = "父母"
	RelGrandchild = "孙子女"
	RelSibling    = "兄弟姐妹"
	RelOther      = "其他"
)

const (
	refYear        = 2026
	firstBirthYear = refYear - 100 // the oldest residents are 100
)

// RefDate is the fixed "today" of the generated city: ages are taken on it and
// nobody is born after it, so the output never depends on the clock.
var RefDate = time.Date(refYear, time.June, 30, 0, 0, 0, 0, time.UTC)

// householdSizeWeights are the shares of households with 1..6 members (%), close to
// the 2020 census for urban Anhui; the mean is 2.60.
var householdSizeWeights = []float64{22, 31, 25, 12, 7, 3}

// census2020 is China's 2020 census population by five-year age group (millions).
var census2020 = []float64{77.9, 90.2, 85.3, 72.7, 74.9, 91.9, 124.1, 99.0, 93.0, 114.2,
	121.2, 101.4, 73.4, 74.0, 49.6, 31.2, 20.4, 10.6, 3.7, 0.8, 0.12}

// births2021 are the births (millions) of 2021-2026, the last only to June.
var births2021 = []float64{10.6, 9.6, 9.0, 9.5, 7.9, 3.9}

// cohortWeights is the target size of each birth year firstBirthYear..refYear:
// the census groups spread over their years and aged to 2026 with rough
// survival, plus the births since. It has the shape of China's pyramid: the
// bulges of the 1962-1975 baby boom and its 1985-1992 echo, few children under
// five, a thin tail to 100.
var cohortWeights = func() []float64 {
	w := make([]float64, refYear-firstBirthYear+1)
	for y := firstBirthYear; y <= refYear; y++ {
		if y > 2020 {
			w[y-firstBirthYear] = births2021[y-2021]
			continue
		}
		x := census2020[min((2020-y)/5, len(census2020)-1)] / 5
		switch a := refYear - y; {
		case a >= 95:
			x *= 0.3
		case a >= 85:
			x *= 0.55
		case a >= 75:
			x *= 0.82
		case a >= 65:
			x *= 0.94
		case a >= 55:
			x *= 0.98
		}
		w[y-firstBirthYear] = x
	}
	return w
}()

// cohortCorrection multiplies the weights birthYear draws with, per five-year age
// group on RefDate. Household templates tie relatives' ages together (every
// child of a 30-year-old is under 9), which distorts the pyramid; these factors,
// calibrated by iterating generation against cohortWeights, undo that.
var cohortCorrection = [21]float64{0.114, 1.325, 3.248, 6.128, 3.247, 0.701, 0.499, 0.550, 0.588, 0.619, 0.392,
	1.225, 1.543, 1.407, 1.414, 1.289, 1.497, 1.413, 1.973, 2.099, 16.426}

// cohort holds the cumulative corrected weights birthYear samples from.
var cohort = buildCohort(cohortCorrection)

func buildCohort(corr [21]float64) []float64 {
	cum := make([]float64, len(cohortWeights))
	sum := 0.0
	for i, w := range cohortWeights {
		sum += w * corr[min((refYear-firstBirthYear-i)/5, len(corr)-1)]
		cum[i] = sum
	}
	return cum
}

// birthYear draws a birth year in [lo, hi] (clamped to the cohort table) with the
// cohort weights, so every relative's age follows the city's pyramid too.
func birthYear(r *rand.Rand, lo, hi int) int {
	lo = max(lo, firstBirthYear)
	hi = min(hi, refYear)
	if lo >= hi {
		return min(lo, refYear)
	}
	base := 0.0
	if lo > firstBirthYear {
		base = cohort[lo-firstBirthYear-1]
	}
	u := base + r.Float64()*(cohort[hi-firstBirthYear]-base)
	return firstBirthYear + searchCum(cohort, u)
}

// birthDate is a uniform day of year y, never after RefDate.
func birthDate(r *rand.Rand, y int) time.Time {
	days := 365
	if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		days = 366
	}
	if y == refYear {
		days = RefDate.YearDay()
	}
	return time.Date(y, time.January, 1+r.IntN(days), 0, 0, 0, 0, time.UTC)
}

// ageOn is the age in whole years on RefDate.
func ageOn(t time.Time) int {
	a := refYear - t.Year()
	if t.Month() > RefDate.Month() || t.Month() == RefDate.Month() && t.Day() > RefDate.Day() {
		a--
	}
	return a
}

// A template is a household composition: the members after the head, one letter
// each (S spouse, C child, P parent, G grandchild, X child's spouse, B sibling),
// and whether the head is of the older generation (50-90, adult children) or the
// younger one (25-55, children at home, perhaps parents).
type template struct {
	weight  float64
	old     bool
	members string
}

// templates by household size; size 1 is the single person, drawn apart.
var templates = [7][]template{
	2: {{30, false, "S"}, {10, false, "C"}, {5, false, "P"}, {3, false, "B"}, {40, true, "S"}, {8, true, "C"}, {4, true, "G"}},
	3: {{55, false, "SC"}, {5, false, "SP"}, {5, false, "CC"}, {3, false, "PP"}, {12, true, "SC"}, {10, true, "SG"}, {5, true, "CG"}, {5, true, "CX"}},
	4: {{40, false, "SCC"}, {25, false, "SCP"}, {5, false, "SPP"}, {8, true, "SCX"}, {12, true, "SCG"}, {5, true, "CXG"}, {5, true, "SGG"}},
	5: {{25, false, "SCCP"}, {25, false, "SCPP"}, {5, false, "SCCC"}, {35, true, "SCXG"}, {10, true, "SCGG"}},
	6: {{35, false, "SCCPP"}, {45, true, "SCXGG"}, {20, true, "SCCXG"}},
}

// templateCum are the cumulative weights of templates, per size.
var templateCum = func() [7][]float64 {
	var out [7][]float64
	for s, ts := range templates {
		sum := 0.0
		for _, t := range ts {
			sum += t.weight
			out[s] = append(out[s], sum)
		}
	}
	return out
}()

var householdSizeCum = func() []float64 {
	var out []float64
	sum := 0.0
	for _, w := range householdSizeWeights {
		sum += w
		out = append(out, sum)
	}
	return out
}()

// member is one person of a household before it gets an identity.
type member struct {
	rel     string
	year    int
	male    bool
	surname string
}

// composeHousehold draws a household's members, head first, into buf.
func composeHousehold(r *rand.Rand, buf []member) []member {
	size := 1 + searchCum(householdSizeCum, r.Float64()*householdSizeCum[len(householdSizeCum)-1])
	m := buf[:0]
	head := member{rel: RelHead, surname: surnames.pick(r)}
	if size == 1 {
		if r.Float64() < 0.45 {
			head.year = birthYear(r, refYear-100, refYear-60)
			head.male = r.Float64() < 0.38 // widows outnumber widowers
		} else {
			head.year = birthYear(r, refYear-59, refYear-22)
			head.male = r.Float64() < 0.58
		}
		return append(m, head)
	}
	cum := templateCum[size]
	t := templates[size][searchCum(cum, r.Float64()*cum[len(cum)-1])]
	if t.old {
		head.year = birthYear(r, refYear-98, refYear-50)
	} else {
		head.year = birthYear(r, refYear-55, refYear-27)
	}
	hasSpouse := t.members[0] == 'S'
	switch {
	case hasSpouse:
		head.male = r.Float64() < 0.8
	case t.old:
		head.male = r.Float64() < 0.4
	default:
		head.male = r.Float64() < 0.45
	}
	m = append(m, head)
	// Children take the father's surname, a few the mother's.
	father, mother := head.surname, surnames.pick(r)
	if hasSpouse {
		gap := clampInt(int(math.Round(2+2.2*r.NormFloat64())), -3, 9) // husbands are a little older
		sp := member{rel: RelSpouse, male: !head.male, surname: mother}
		if head.male {
			sp.year = head.year + gap
		} else {
			sp.year = head.year - gap
			father, mother = mother, head.surname
		}
		sp.year = clampInt(sp.year, firstBirthYear, refYear-20)
		m = append(m, sp)
	} else if !head.male {
		father, mother = mother, head.surname
	}
	nParents := strings.Count(t.members, "P")
	// The first child is an adult when married (X) or a parent (G) in the household.
	adultChild := strings.ContainsAny(t.members, "XG")
	firstChild := -1
	for _, c := range t.members {
		switch c {
		case 'C':
			ch := member{rel: RelChild, male: r.Float64() < 0.52, surname: father}
			if r.Float64() < 0.06 {
				ch.surname = mother
			}
			hi := head.year + 42
			if t.old {
				hi = head.year + 40
			}
			if firstChild < 0 && adultChild {
				hi = min(hi, refYear-22)
			}
			ch.year = birthYear(r, head.year+23, hi)
			if firstChild < 0 {
				firstChild = len(m)
			}
			m = append(m, ch)
		case 'P':
			// Two parents: father then mother; a lone parent is more often the mother.
			p := member{rel: RelParent, male: nParents == 2 && m[len(m)-1].rel != RelParent}
			if nParents == 1 {
				p.male = r.Float64() < 0.35
			}
			if p.male {
				p.surname = head.surname
				p.year = birthYear(r, head.year-38, head.year-22)
			} else {
				p.surname = surnames.pick(r)
				if prev := m[len(m)-1]; prev.rel == RelParent {
					p.year = clampInt(prev.year+clampInt(int(math.Round(2+2*r.NormFloat64())), -3, 8), firstBirthYear, head.year-18)
				} else {
					p.year = birthYear(r, head.year-36, head.year-20)
				}
			}
			m = append(m, p)
		case 'X':
			// The child's spouse (儿媳/女婿) is recorded as 其他.
			x := member{rel: RelOther, surname: surnames.pick(r)}
			if firstChild >= 0 {
				c := m[firstChild]
				x.male = !c.male
				x.year = clampInt(c.year+r.IntN(7)-3, firstBirthYear, refYear-18)
			} else {
				x.male = r.Float64() < 0.5
				x.year = birthYear(r, head.year+22, head.year+40)
			}
			m = append(m, x)
		case 'G':
			g := member{rel: RelGrandchild, male: r.Float64() < 0.52, surname: father}
			parentYear := head.year + 28
			if firstChild >= 0 {
				c := m[firstChild]
				parentYear = c.year
				if c.male {
					g.surname = c.surname
				} else {
					g.surname = surnames.pick(r)
					for _, o := range m {
						if o.rel == RelOther && o.male {
							g.surname = o.surname
						}
					}
				}
			}
			lo := min(max(parentYear+20, head.year+40), refYear)
			g.year = birthYear(r, lo, parentYear+40)
			m = append(m, g)
		case 'B':
			m = append(m, member{
				rel:     RelSibling,
				male:    r.Float64() < 0.5,
				surname: head.surname,
				year:    clampInt(head.year+r.IntN(17)-8, firstBirthYear, refYear-16),
			})
		}
	}
	return m
}

func clampInt(v, lo, hi int) int {
	return max(lo, min(v, hi))
}

// idAreaCode is the address code a person's resident ID carries: the district's,
// or for the older ones the code of a predecessor county (IDs are never reissued
// when a county is renamed or moved), or, for a few, the county they moved from.
func idAreaCode(r *rand.Rand, district string, year int) string {
	if year < 2005 && r.Float64() < 0.07 {
		return migrantOrigins[r.IntN(len(migrantOrigins))]
	}
	u := r.Float64()
	old := (year < 1990 && u < 0.6) || (year < 2015 && u < 0.35)
	switch district {
	case "340705": // 铜官区 merged 铜官山区 and 狮子山区 in 2015
		if old {
			if r.IntN(2) == 0 {
				return "340702"
			}
			return "340703"
		}
	case "340706": // 义安区 was 铜陵县 until 2015
		if old {
			return "340721"
		}
	case "340722": // 枞阳县 belonged to 安庆市 until 2015
		if year < 2016 && u < 0.75 {
			return "340823"
		}
	}
	return district
}

// migrantOrigins are real county codes of Anhui a resident may have moved from.
var migrantOrigins = []string{"340102", "340103", "340104", "340111", "340123", "340202", "340207",
	"340802", "340803", "340811", "340822", "340826", "340828", "341702", "341721", "341723"}

// idRegistry issues resident ID numbers unique across the city.
type idRegistry struct {
	used map[uint64]struct{}
}

// issue is a valid 18-character resident ID for the area code, birth date and sex:
// a random sequence of the right parity (odd for men), bumped on collision.
func (reg *idRegistry) issue(r *rand.Rand, area string, birth time.Time, male bool) (string, error) {
	var b [18]byte
	copy(b[:6], area)
	y, mo, d := birth.Date()
	putDigits(b[6:10], y)
	putDigits(b[10:12], int(mo))
	putDigits(b[12:14], d)
	prefix := uint64(0)
	for _, c := range b[:14] {
		prefix = prefix*10 + uint64(c-'0')
	}
	seq := r.IntN(500) * 2
	if male {
		seq++
	}
	for range 500 {
		key := prefix*1000 + uint64(seq)
		if _, dup := reg.used[key]; !dup {
			reg.used[key] = struct{}{}
			putDigits(b[14:17], seq)
			check, err := ident.ResidentCheckChar(string(b[:17]))
			if err != nil {
				return "", err
			}
			b[17] = check
			return string(b[:]), nil
		}
		seq = (seq + 2) % 1000 // keeps the parity, so the sex
	}
	return "", fmt.Errorf("synth: all resident ID sequences of %s %s used", area, birth.Format(time.DateOnly))
}

// putDigits writes n zero-padded into b.
func putDigits(b []byte, n int) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
}
