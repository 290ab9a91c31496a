package deptsim

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/ident"
	"github.com/gridhub/gridhub/internal/synth"
)

// Showcase residents: a record in all six departments is very rare (it takes
// 低保 or a disability, unemployment, party membership and a 城管 case at once),
// yet the demo must show one query answered by six sources. Build therefore
// chooses a few residents, deterministically, and gives each of them, besides
// what they naturally have, plausible records in every department:
//
//   - civil_affairs: an ACTIVE 低保 for their household, or a disability
//     certificate (grade 3 or 4);
//   - health: the 婚育 record everyone 15+ has, a 流动人口 registration when
//     the ID number is from elsewhere, and for women the birth of their
//     youngest child;
//   - employment: registered unemployment, a 就业创业证 and assistance (a
//     referral or training, and the flexible-employment insurance subsidy);
//   - social_security: pension CONTRIBUTING and medical INSURED;
//   - party_building: a FULL member of their community's branch, in contact;
//   - urban_management: a case with them as the party, located inside their
//     own grid.
//
// Their rows are written clean (no typo, stale address, ID noise or
// duplicate) and, in the sets kept one per person, their showcase record is
// the newest, so it is the one the sources answer first.

// ShowcaseCount is how many showcase residents Build chooses (fewer only in a
// city too small to have them).
const ShowcaseCount = 5

// showcaseFile is the list of showcase residents under WriteFiles' truth dir.
const showcaseFile = "showcase.json"

// ShowcaseResident is one entry of dir/truth/showcase.json.
type ShowcaseResident struct {
	IDNumber string `json:"idNumber"`
	Name     string `json:"name"`
}

// Showcase reads the showcase residents WriteFiles wrote under dir, in ID
// number order.
func Showcase(dir string) ([]ShowcaseResident, error) {
	b, err := os.ReadFile(filepath.Join(dir, TruthDir, showcaseFile))
	if err != nil {
		return nil, fmt.Errorf("deptsim showcase: %w", err)
	}
	var out []ShowcaseResident
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("deptsim showcase: %s: %w", showcaseFile, err)
	}
	return out, nil
}

// showcaseResidents pairs ds.Showcase with the names the records carry (the
// showcase rows are clean, so any of them has the true name).
func (ds *Dataset) showcaseResidents() []ShowcaseResident {
	names := map[string]string{}
	for _, id := range ds.Showcase {
		names[id] = ""
	}
	for _, p := range ds.SocialSecurity.Pension {
		if n, ok := names[p.IDNumber]; ok && n == "" {
			names[p.IDNumber] = p.Name
		}
	}
	out := make([]ShowcaseResident, 0, len(ds.Showcase))
	for _, id := range ds.Showcase {
		out = append(out, ShowcaseResident{IDNumber: id, Name: names[id]})
	}
	return out
}

func (ds *Dataset) writeShowcase(dir string) error {
	b, err := json.MarshalIndent(ds.showcaseResidents(), "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, showcaseFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, showcaseFile))
}

// validID tells whether s is a well-formed 18-character ID with a right check.
func validID(s string) bool {
	if len(s) != 18 {
		return false
	}
	c, err := ident.ResidentCheckChar(s[:17])
	return err == nil && c == s[17]
}

// gridIndex locates points in the city's grids.
func (w *world) gridIndex() *grid.Index {
	if w.gridIx == nil {
		w.gridIx = grid.NewIndex(w.city.Units)
	}
	return w.gridIx
}

// building is the building person i's household lives in, nil for none.
func (w *world) building(i int32) *synth.Building {
	h := w.household(i)
	if h < 0 {
		return nil
	}
	b, ok := w.bldIndex[w.city.Households[h].BuildingID]
	if !ok {
		return nil
	}
	return &w.city.Buildings[b]
}

// showcaseChild is the youngest child (under 12) woman i bore, by the
// household register, -1 for none: a child (子女) of a head or spouse, a
// grandchild (孙子女) of a child or other member.
func (w *world) showcaseChild(i int32) int32 {
	p := w.person(i)
	h := w.household(i)
	if p.Gender != "F" || h < 0 {
		return -1
	}
	var rel string
	switch p.Relation {
	case synth.RelHead, synth.RelSpouse:
		rel = synth.RelChild
	case synth.RelChild, synth.RelOther:
		rel = synth.RelGrandchild
	default:
		return -1
	}
	best := int32(-1)
	for _, c := range w.members[h] {
		cp := w.person(c)
		if cp.Relation != rel || w.age(c) >= 12 {
			continue
		}
		if at := ageOn(p.BirthDate, cp.BirthDate); at < 20 || at > 42 {
			continue
		}
		if best < 0 || cp.BirthDate.After(w.person(best).BirthDate) {
			best = c
		}
	}
	return best
}

// showcaseCandidate tells whether person i can be a showcase resident: an
// adult of 30-55 below the pension age, with a valid ID number, in a
// household of three or more in an urban community (居委会: community code
// digits 10-12 in 001-199) whose building lies inside its grid; a woman
// needs a young child to have registered.
func (w *world) showcaseCandidate(i int32) bool {
	p := w.person(i)
	a := w.age(i)
	if a < 30 || a > 55 || w.retired(i) || w.dead[i] || !validID(p.IDNumber) || p.Phone == "" {
		return false
	}
	h := w.household(i)
	if h < 0 || len(w.members[h]) < 3 {
		return false
	}
	hh := &w.city.Households[h]
	if len(hh.GridCode) < 12 || hh.GridCode != p.GridCode {
		return false
	}
	if t, ok := grid.CommunityTypeOf(hh.GridCode[:12]); !ok || t != grid.UrbanCommunity {
		return false
	}
	b := w.building(i)
	if b == nil || b.GridCode != p.GridCode {
		return false
	}
	if u, ok := w.gridIndex().Locate(b.Lon, b.Lat); !ok || u.Code != p.GridCode {
		return false
	}
	return p.Gender != "F" || w.showcaseChild(i) >= 0
}

// chooseShowcase picks the showcase residents: candidates in a seeded order,
// three women and two men, from different households and, where the city
// allows, different communities.
func (w *world) chooseShowcase() {
	r := w.rng("showcase")
	var cands []int32
	for i := range w.city.Persons {
		if w.showcaseCandidate(int32(i)) {
			cands = append(cands, int32(i))
		}
	}
	r.Shuffle(len(cands), func(a, b int) { cands[a], cands[b] = cands[b], cands[a] })
	women := (ShowcaseCount + 1) / 2
	quota := map[string]int{"F": women, "M": ShowcaseCount - women}
	households, communities := map[int32]bool{}, map[string]bool{}
	take := func(strict bool) {
		for _, i := range cands {
			if len(w.showcaseIdx) == ShowcaseCount {
				return
			}
			p := w.person(i)
			h := w.household(i)
			if w.showcase[i] || households[h] {
				continue
			}
			if strict && (quota[p.Gender] == 0 || communities[p.GridCode[:12]]) {
				continue
			}
			quota[p.Gender]--
			households[h], communities[p.GridCode[:12]] = true, true
			w.showcase[i] = true
			w.showcasePID[p.ID] = true
			w.showcaseIdx = append(w.showcaseIdx, i)
		}
	}
	take(true)
	take(false)
}

// showcaseIDs is the showcase residents' ID numbers, sorted.
func (w *world) showcaseIDs() []string {
	out := make([]string, 0, len(w.showcaseIdx))
	for _, i := range w.showcaseIdx {
		out = append(out, w.person(i).IDNumber)
	}
	slices.Sort(out)
	return out
}

// now is the city's "today" at 18:00 CST, the Dataset's Now.
func (w *world) now() time.Time {
	return time.Date(w.today.Year(), w.today.Month(), w.today.Day(), 18, 0, 0, 0, cst)
}

// newest is an office-hours update time on a day in [from, today] that is
// later than every time of prior: the row a source answers first.
func (w *world) newest(r *rand.Rand, from time.Time, prior ...time.Time) time.Time {
	var last time.Time
	for _, t := range prior {
		if t.After(last) {
			last = t
		}
	}
	if !last.IsZero() {
		from = maxDate(from, dayOf(last))
	}
	t := w.touch(r, from)
	if !t.After(last) {
		d := time.Duration(1+r.IntN(3600)) * time.Second
		if room := w.now().Sub(last); d > room {
			d = max(room, time.Second)
		}
		t = last.Add(d)
	}
	return t
}

// lastRow is the highest row id of rows, base when there are none.
func lastRow[T any](rows []T, base int64, row func(*T) int64) int64 {
	for k := range rows {
		base = max(base, row(&rows[k]))
	}
	return base
}

func (w *world) showcaseCivilAffairs(d *CivilAffairsData, n *noiser, inCA map[int32]bool) {
	r := w.rng("showcase/" + CivilAffairs)
	disabled, dibao := map[int64]bool{}, map[int64]string{} // person -> newest 低保 status
	dibaoUpd := map[int64]time.Time{}
	households := map[string]bool{}
	for _, x := range d.Disability {
		disabled[x.PersonID] = true
	}
	for _, x := range d.Dibao {
		households[x.HouseholdNumber] = true
		if x.Updated.After(dibaoUpd[x.PersonID]) {
			dibao[x.PersonID], dibaoUpd[x.PersonID] = x.Status, x.Updated
		}
	}
	for k, i := range w.showcaseIdx {
		p := w.person(i)
		inCA[i] = true
		if disabled[p.ID] || dibao[p.ID] == "ACTIVE" {
			continue // civil affairs knows them already
		}
		var covered []int32
		onDibao := false
		for _, j := range w.members[w.household(i)] {
			if _, ok := dibao[w.person(j).ID]; ok {
				onDibao = true
			}
			if !w.tekun[j] && !w.dead[j] {
				covered = append(covered, j)
			}
		}
		if k%2 == 0 && !onDibao {
			// 低保 for the household, every member not otherwise supported.
			seq := lastRow(d.Dibao, 500000, func(x *Dibao) int64 { return x.Row })
			number := fmt.Sprintf("DB%s%06d", w.city.Area[:min(6, len(w.city.Area))], len(households)+1)
			households[number] = true
			amount := Yuan(int64(300+r.IntN(450)) * int64(len(covered)))
			since := w.daysAgo(r, 60, 3*365)
			updated := w.touch(r, since)
			for _, j := range covered {
				seq++
				d.Dibao = append(d.Dibao, Dibao{
					Row: seq, Ident: n.ident("dibao", seq, j), HouseholdNumber: number, Amount: amount,
					Persons: len(covered), Since: since, Until: w.nextAnniversary(since), Status: "ACTIVE", Updated: updated,
				})
				w.dibao[j] = true
				inCA[j] = true
			}
			continue
		}
		// A mild disability certificate, as the adults' categories go.
		cat := 1 + pick(r, 8, 8, 1, 50, 10, 15, 8)
		grade := 3 + r.IntN(2)
		issued := between(r, maxDate(p.BirthDate.AddDate(18, 0, 0), date(2008, 1, 1)), w.today.AddDate(0, -2, 0))
		seq := lastRow(d.Disability, 300000, func(x *Disability) int64 { return x.Row }) + 1
		d.Disability = append(d.Disability, Disability{
			Row: seq, Ident: n.ident("disability", seq, i), CertificateNumber: fmt.Sprintf("%s%d%d", p.IDNumber, cat, grade),
			Category: disabilityCategories[cat], Grade: grade, IssuedOn: issued, Updated: w.touch(r, issued),
		})
		w.disabled[i] = int8(grade)
	}
}

func (w *world) showcaseHealth(d *HealthData, n *noiser, hospitals []string) {
	r := w.rng("showcase/" + Health)
	for _, i := range w.showcaseIdx {
		p := w.person(i)
		// 婚育: everyone 15+ has a row; a showcase resident always does.
		if !slices.ContainsFunc(d.Marriage, func(x Marriage) bool { return x.PersonID == p.ID }) {
			status := maritalByAge(r, w.age(i), p.Gender == "M")
			kids := 0
			if w.showcaseChild(i) >= 0 {
				status, kids = "MARRIED", 1
			}
			seq := lastRow(d.Marriage, 5000000, func(x *Marriage) int64 { return x.Row }) + 1
			d.Marriage = append(d.Marriage, Marriage{
				Row: seq, Ident: n.ident("marriage", seq, i), MaritalStatus: status, Children: kids,
				ChildbearingAge: p.Gender == "F" && w.age(i) <= 49, Updated: w.touch(r, w.today.AddDate(-4, 0, 0)),
			})
		}
		// 流动人口: registered where the ID number says they came from elsewhere.
		if !local(p.IDNumber) && !slices.ContainsFunc(d.Floating, func(x Floating) bool { return x.PersonID == p.ID }) {
			o := origins[r.IntN(len(origins))]
			for _, x := range origins {
				if x.code == p.IDNumber[:6] {
					o = x
				}
			}
			in := w.daysAgo(r, 365, 10*365)
			seq := lastRow(d.Floating, 4000000, func(x *Floating) int64 { return x.Row }) + 1
			d.Floating = append(d.Floating, Floating{
				Row: seq, Ident: n.ident("floating", seq, i), InflowDate: in, OriginAddress: originAddress(r, o), OriginCode: o.code,
				Reason: "WORK", ResidencePermit: true, Updated: w.touch(r, in),
			})
		}
		// 出生登记: a woman's youngest child, if not registered yet.
		c := w.showcaseChild(i)
		if c < 0 {
			continue
		}
		child := w.person(c)
		if slices.ContainsFunc(d.Births, func(x Birth) bool { return x.ChildPersonID == child.ID }) {
			continue
		}
		seq := lastRow(d.Births, 6000000, func(x *Birth) int64 { return x.Row }) + 1
		d.Births = append(d.Births, Birth{
			Row: seq, Mother: n.ident("births", seq, i), ChildPersonID: child.ID, ChildName: child.Name,
			ChildGender: child.Gender, BirthDate: child.BirthDate,
			CertificateNumber: fmt.Sprintf("%c%09d", 'A'+rune(max(0, child.BirthDate.Year()-2006)), r.IntN(1_000_000_000)),
			Hospital:          hospitals[r.IntN(len(hospitals))], Updated: w.touch(r, child.BirthDate.AddDate(0, 0, 3)),
		})
	}
}

func (w *world) showcaseEmployment(d *EmploymentData, n *noiser, enterprises []string) {
	r := w.rng("showcase/" + Employment)
	for _, i := range w.showcaseIdx {
		p := w.person(i)
		// 失业登记: the newest registration is a current one.
		var prior []time.Time
		var latest *Unemployment
		for k := range d.Unemployment {
			if x := &d.Unemployment[k]; x.PersonID == p.ID {
				prior = append(prior, x.Updated)
				if latest == nil || x.Updated.After(latest.Updated) {
					latest = x
				}
			}
		}
		var regOn time.Time
		if latest != nil && latest.Status == "REGISTERED" {
			regOn = latest.RegisteredOn
		} else {
			regOn = w.daysAgo(r, 30, 300)
			if latest != nil {
				regOn = maxDate(regOn, minDate(dayOf(latest.Updated).AddDate(0, 0, 1), w.today))
			}
			seq := lastRow(d.Unemployment, 800000, func(x *Unemployment) int64 { return x.Row }) + 1
			d.Unemployment = append(d.Unemployment, Unemployment{
				Row: seq, Ident: n.ident("unemployment", seq, i), RegisteredOn: regOn, Status: "REGISTERED",
				Reason: unemploymentReasons[pick(r, 30, 12, 25, 8, 0, 10, 5)], Updated: w.newest(r, regOn, prior...),
			})
		}
		// 就业创业证, issued at registration.
		if !slices.ContainsFunc(d.Certificates, func(x EmploymentCertificate) bool { return x.PersonID == p.ID }) {
			issued := minDate(regOn.AddDate(0, 0, r.IntN(8)), w.today)
			seq := lastRow(d.Certificates, 200000, func(x *EmploymentCertificate) int64 { return x.Row }) + 1
			d.Certificates = append(d.Certificates, EmploymentCertificate{
				Row: seq, Ident: n.ident("certificate", seq, i),
				Number:   fmt.Sprintf("%s%04d%06d", w.city.Area[:min(6, len(w.city.Area))], issued.Year(), seq%1000000),
				IssuedOn: issued, Updated: w.touch(r, issued),
			})
		}
		// 就业困难人员 where the household's 低保 or a disability qualifies them.
		cat := ""
		switch {
		case w.disabled[i] > 0:
			cat = "DISABLED"
		case w.dibao[i]:
			cat = "LOW_INCOME"
		}
		if cat != "" && !slices.ContainsFunc(d.Hardship, func(x Hardship) bool { return x.PersonID == p.ID }) {
			on := minDate(regOn.AddDate(0, 0, 10+r.IntN(20)), w.today)
			seq := lastRow(d.Hardship, 900000, func(x *Hardship) int64 { return x.Row }) + 1
			d.Hardship = append(d.Hardship, Hardship{Row: seq, Ident: n.ident("hardship", seq, i), Category: cat, RecognizedOn: on, Updated: w.touch(r, on)})
		}
		// 援助: a referral or a training, and the subsidy for the insurance
		// they keep paying as flexible workers.
		seq := lastRow(d.Assistance, 3000000, func(x *Assistance) int64 { return x.Row })
		kind, detail := "JOB_REFERRAL", "推荐至"+enterprises[r.IntN(len(enterprises))]+"面试"
		if r.IntN(2) == 0 {
			kind, detail = "TRAINING", "参加"+trainings[r.IntN(len(trainings))]+"职业技能培训"
		}
		for _, a := range []struct{ kind, detail string }{
			{kind, detail},
			{"SUBSIDY", fmt.Sprintf("发放灵活就业社会保险补贴%d元", 600+100*r.IntN(12))},
		} {
			on := between(r, regOn, w.today)
			seq++
			d.Assistance = append(d.Assistance, Assistance{Row: seq, Ident: n.ident("assistance", seq, i), Kind: a.kind, Date: on, Detail: a.detail, Updated: w.touch(r, on)})
		}
	}
}

func (w *world) showcaseSocialSecurity(d *SocialSecurityData, n *noiser) {
	r := w.rng("showcase/" + SocialSecurity)
	for _, i := range w.showcaseIdx {
		p := w.person(i)
		// Pension: contributing (as a flexible worker while unemployed).
		var pension *Pension
		for k := range d.Pension {
			if x := &d.Pension[k]; x.PersonID == p.ID && (pension == nil || x.Updated.After(pension.Updated)) {
				pension = x
			}
		}
		if pension != nil {
			if pension.Status != "CONTRIBUTING" {
				pension.Status, pension.MonthlyBenefit = "CONTRIBUTING", 0
				pension.Updated = w.newest(r, w.today.AddDate(0, -6, 0), pension.Updated)
			}
		} else {
			since := date(2010, 1, 1).AddDate(0, r.IntN(120), 0)
			since = maxDate(since, p.BirthDate.AddDate(22, 0, 0))
			since = date(since.Year(), since.Month(), 1)
			seq := lastRow(d.Pension, 10000000, func(x *Pension) int64 { return x.Row }) + 1
			d.Pension = append(d.Pension, Pension{
				Row: seq, Ident: n.ident("pension", seq, i), Scheme: "EMPLOYEE", Status: "CONTRIBUTING", Since: since,
				Updated: w.touch(r, maxDate(since, w.today.AddDate(-1, 0, 0))),
			})
			w.employee[i] = true
		}
		// Medical: insured.
		var medical *Medical
		for k := range d.Medical {
			if x := &d.Medical[k]; x.PersonID == p.ID && (medical == nil || x.Updated.After(medical.Updated)) {
				medical = x
			}
		}
		if medical != nil {
			if medical.Status != "INSURED" {
				medical.Status = "INSURED"
				medical.Updated = w.newest(r, w.today.AddDate(0, -6, 0), medical.Updated)
			}
			continue
		}
		scheme, since := "RESIDENT", date(2008, 1, 1).AddDate(0, r.IntN(120), 0)
		if w.employee[i] {
			scheme, since = "EMPLOYEE", maxDate(p.BirthDate.AddDate(22, r.IntN(12), 0), date(1998, 12, 1))
		}
		since = date(since.Year(), since.Month(), 1)
		seq := lastRow(d.Medical, 20000000, func(x *Medical) int64 { return x.Row }) + 1
		d.Medical = append(d.Medical, Medical{
			Row: seq, Ident: n.ident("medical", seq, i), Scheme: scheme, Status: "INSURED", Since: since,
			Updated: w.touch(r, maxDate(since, w.today.AddDate(-1, 0, 0))),
		})
	}
}

// showcaseCases adds one case a showcase resident is the party of, beside
// their building and inside their grid, reported in the last four months.
func (w *world) showcaseCases(cases []Case, partyOf []int32) ([]Case, []int32) {
	r := w.rng("showcase/" + UrbanManagement)
	kinds := []string{"占道经营", "乱堆物料", "噪音扰民", "私搭乱建", "露天烧烤", "流动摊贩"}
	for k, i := range w.showcaseIdx {
		ci := slices.IndexFunc(caseCategories, func(c caseCategory) bool { return c.name == kinds[k%len(kinds)] })
		cat := caseCategories[ci]
		b := w.building(i)
		c := Case{Kind: cat.kind, Category: cat.name, Source: caseSources[pick(r, 45, 25, 20, 10)], PartyType: PartyPerson}
		c.ReportedAt = clock(r, w.daysAgo(r, 3, 120))
		c.Lon, c.Lat = b.Lon, b.Lat // inside: the candidate check located the building
		for range 50 {
			lon, lat := jitter(r, b.Lon, b.Lat, 30)
			if u, ok := w.gridIndex().Locate(lon, lat); ok && u.Code == b.GridCode {
				c.Lon, c.Lat = lon, lat
				break
			}
		}
		c.Address, c.GridCode = b.Address+"附近", b.GridCode
		c.Description = fmt.Sprintf("%s：%s%s。", c.Source, c.Address, cat.what)
		w.caseTimeline(r, &c, cat.limit)
		cases = append(cases, c)
		partyOf = append(partyOf, i)
	}
	return cases, partyOf
}

// showcaseMember makes m (person i's ledger row, perhaps still empty) a full
// member of the community's branch, in contact.
func (w *world) showcaseMember(m *Member, i int32) {
	r := w.rng(fmt.Sprintf("showcase/%s/%d", PartyBuilding, i))
	p := w.person(i)
	a := w.age(i)
	m.Ethnicity = p.Ethnicity
	if m.Category != "FULL" || m.JoinedOn.IsZero() {
		joinAge := min(20+int(math.Abs(r.NormFloat64()*5)), a-3)
		lo := p.BirthDate.AddDate(joinAge, 0, 0)
		m.Category = "FULL"
		m.JoinedOn = minDate(between(r, lo, lo.AddDate(0, 11, 0)), w.today.AddDate(-2, 0, 0))
		m.RegularOn = m.JoinedOn.AddDate(1, 0, 0)
	}
	if m.Branch == "" {
		no := 1
		if len(p.GridCode) == 15 {
			fmt.Sscanf(p.GridCode[12:], "%d", &no)
		}
		m.Branch = w.communityName(p.GridCode) + "第" + chineseNumeral(max(1, min(no, 99))) + "党支部"
	}
	if m.OutOfContact || m.LastContact.IsZero() {
		m.OutOfContact = false
		m.LastContact = w.daysAgo(r, 0, 60)
	}
	// Only a transfer's remark still applies.
	if strings.HasPrefix(m.Remark, "预备期") || slices.Contains(outReasons, m.Remark) {
		m.Remark = ""
	}
}
