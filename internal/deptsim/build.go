package deptsim

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/gridhub/gridhub/internal/synth"
)

// Build derives every department's records from the city. It is deterministic:
// the same city and seed give the same Dataset. The city is only read.
func Build(city *synth.City, seed int64) *Dataset {
	w := newWorld(city, seed)
	ds := &Dataset{Seed: seed, Area: city.Area, Now: time.Date(w.today.Year(), w.today.Month(), w.today.Day(), 18, 0, 0, 0, cst)}
	w.truth = &ds.Truth
	w.deaths()
	w.chooseShowcase()
	ds.CivilAffairs = w.civilAffairs()
	ds.Health = w.health()
	ds.SocialSecurity = w.socialSecurity()
	ds.Employment = w.employment()
	ds.UrbanManagement = w.urbanManagement()
	ds.PartyBuilding = w.partyBuilding()
	w.deathTruth(ds)
	ds.Showcase = w.showcaseIDs()
	return ds
}

// disabilityRate is the share of an age with a disability certificate: about
// 2.5% overall, rising with age.
func disabilityRate(age int) float64 {
	switch {
	case age < 18:
		return 0.006
	case age < 45:
		return 0.014
	case age < 60:
		return 0.028
	case age < 70:
		return 0.038
	case age < 80:
		return 0.05
	}
	return 0.07
}

var disabilityCategories = []string{"", "VISION", "HEARING", "SPEECH", "PHYSICAL", "INTELLECTUAL", "MENTAL", "MULTIPLE"}

func (w *world) civilAffairs() CivilAffairsData {
	r := w.rng(CivilAffairs)
	n := w.noiser(CivilAffairs)
	var d CivilAffairsData
	inCA := map[int32]bool{}

	// 残疾人: the certificate holders.
	seq := int64(300000)
	for i := range w.city.Persons {
		i := int32(i)
		a := w.age(i)
		if r.Float64() >= disabilityRate(a) {
			continue
		}
		var cat int
		if a < 18 {
			cat = 1 + pick(r, 6, 15, 5, 20, 40, 5, 9)
		} else if a >= 65 {
			cat = 1 + pick(r, 18, 20, 1, 48, 2, 5, 6)
		} else {
			cat = 1 + pick(r, 8, 8, 1, 50, 10, 15, 8)
		}
		grade := 1 + pick(r, 10, 25, 30, 35)
		p := w.person(i)
		cert := fmt.Sprintf("%s%d%d", p.IDNumber, cat, grade)
		if r.Float64() < 0.03 {
			cert += fmt.Sprintf("B%d", 1+r.IntN(2))
		}
		issued := between(r, maxDate(p.BirthDate.AddDate(1, 0, 0), date(2008, 1, 1)), w.today.AddDate(0, 0, -7))
		seq++
		d.Disability = append(d.Disability, Disability{
			Row: seq, Ident: n.ident("disability", seq, i), CertificateNumber: cert,
			Category: disabilityCategories[cat], Grade: grade, IssuedOn: issued, Updated: w.touch(r, issued),
		})
		w.disabled[i] = int8(grade)
		inCA[i] = true
	}
	d.Disability = addDuplicates(n, "disability", d.Disability, &seq, func(x *Disability) (*int64, int64, *time.Time) { return &x.Row, x.PersonID, &x.Updated })

	// 特困: mostly old people living alone, and severely disabled adults without family.
	seq = 100000
	for h, ms := range w.members {
		for _, i := range ms {
			a := w.age(i)
			p := 0.0
			switch {
			case a >= 60 && len(ms) == 1:
				p = 0.07
			case a >= 70:
				p = 0.0008
			case a >= 16 && w.disabled[i] > 0 && w.disabled[i] <= 2 && len(ms) <= 2:
				p = 0.06
			}
			if r.Float64() >= p {
				continue
			}
			cat := "URBAN"
			if w.village[h] {
				cat = "RURAL"
			}
			mode := "DISPERSED"
			if r.Float64() < 0.25 || a >= 85 && r.Float64() < 0.4 {
				mode = "CENTRALIZED"
			}
			since := w.daysAgo(r, 60, 15*365)
			status := "ACTIVE"
			if w.dead[i] || r.Float64() < 0.05 {
				status = "ENDED"
			}
			seq++
			d.Tekun = append(d.Tekun, Tekun{
				Row: seq, Ident: n.ident("tekun", seq, i), Category: cat, CareMode: mode,
				Since: since, Status: status, Updated: w.touch(r, since),
			})
			w.tekun[i] = true
			inCA[i] = true
		}
	}
	d.Tekun = addDuplicates(n, "tekun", d.Tekun, &seq, func(x *Tekun) (*int64, int64, *time.Time) { return &x.Row, x.PersonID, &x.Updated })

	// 低保: benefit households, far more often in villages and among the old
	// and the disabled; every covered member has a row.
	seq = 500000
	hhNo := 0
	for h, ms := range w.members {
		elderly, disabled, working := true, false, 0
		for _, i := range ms {
			a := w.age(i)
			if a < 60 {
				elderly = false
			}
			if w.disabled[i] > 0 {
				disabled = true
			}
			if a >= 18 && a < 60 {
				working++
			}
		}
		p := 0.017
		if w.village[h] {
			p = 0.045
		}
		if elderly {
			p *= 2
		}
		if disabled {
			p *= 2.5
		}
		if working >= 2 {
			p *= 0.5
		}
		if r.Float64() >= p {
			continue
		}
		var covered []int32
		partial := r.Float64() < 0.2
		for _, i := range ms {
			if w.tekun[i] {
				continue
			}
			if partial && !(w.age(i) >= 60 || w.age(i) < 18 || w.disabled[i] > 0) {
				continue
			}
			covered = append(covered, i)
		}
		if len(covered) == 0 {
			continue
		}
		hhNo++
		number := fmt.Sprintf("DB%s%06d", w.city.Area[:min(6, len(w.city.Area))], hhNo)
		perCapita := int64(220 + r.IntN(600))
		amount := Yuan(perCapita * int64(len(covered)))
		since := w.daysAgo(r, 30, 9*365)
		status := "ACTIVE"
		until := w.nextAnniversary(since)
		switch u := r.Float64(); {
		case u < 0.03:
			status = "SUSPENDED"
		case u < 0.15:
			status = "ENDED"
			until = between(r, since.AddDate(0, 6, 0), w.today.AddDate(0, 0, -1))
		}
		updated := w.touch(r, since)
		for _, i := range covered {
			st, un := status, until
			// A death the 低保 office has already processed ends the row; one
			// of the last 30 days not yet (the row stays as it was: a
			// finding of the hub's, deceasedWithDibao).
			if died, dead := w.diedOn(i); dead && st != "ENDED" && w.today.Sub(died) > 30*24*time.Hour {
				st, un = "ENDED", lastOfMonth(died)
			}
			seq++
			d.Dibao = append(d.Dibao, Dibao{
				Row: seq, Ident: n.ident("dibao", seq, i), HouseholdNumber: number, Amount: amount,
				Persons: len(covered), Since: since, Until: un, Status: st, Updated: updated,
			})
			if st != "ENDED" {
				w.dibao[i] = true
			}
			inCA[i] = true
		}
	}
	d.Dibao = addDuplicates(n, "dibao", d.Dibao, &seq, func(x *Dibao) (*int64, int64, *time.Time) { return &x.Row, x.PersonID, &x.Updated })

	// 高龄补贴: everyone 80 and over, from the month after the 80th birthday.
	seq = 700000
	for i := range w.city.Persons {
		i := int32(i)
		a := w.age(i)
		if a < 80 {
			continue
		}
		band, monthly := "AGE_80_89", Yuan(50)
		switch {
		case a >= 100:
			band, monthly = "AGE_100_PLUS", Yuan(500)
		case a >= 90:
			band, monthly = "AGE_90_99", Yuan(100)
		}
		b80 := w.person(i).BirthDate.AddDate(80, 0, 0)
		since := maxDate(date(b80.Year(), b80.Month(), 1).AddDate(0, 1, 0), date(2012, 1, 1))
		dead := w.dead[i]
		seq++
		d.Elderly = append(d.Elderly, ElderlyAllowance{
			Row: seq, Ident: n.ident("elderlyAllowance", seq, i), Band: band, Monthly: monthly,
			Since: since, Paying: !dead, Updated: w.touch(r, maxDate(since, w.today.AddDate(-1, 0, 0))),
		})
		inCA[i] = true
	}
	d.Elderly = addDuplicates(n, "elderlyAllowance", d.Elderly, &seq, func(x *ElderlyAllowance) (*int64, int64, *time.Time) {
		return &x.Row, x.PersonID, &x.Updated
	})

	w.showcaseCivilAffairs(&d, n, inCA)

	// The residents table: everyone above, and the deaths civil affairs registered.
	seq = 1000000
	for i := range w.city.Persons {
		i := int32(i)
		died, dead := w.diedOn(i)
		if !inCA[i] && !dead {
			continue
		}
		seq++
		row := CAResident{Row: seq, Ident: n.ident("residents", seq, i), Deceased: dead, DiedOn: died}
		if dead {
			row.Updated = clock(r, died.AddDate(0, 0, 1+r.IntN(20)))
			n.truth.Noise = append(n.truth.Noise, Noise{Dept: CivilAffairs, Set: "residents", Row: seq, PersonID: row.PersonID,
				Kind: NoiseDeceased, Field: "swrq", Source: died.Format(time.DateOnly)})
		} else {
			row.Updated = w.touch(r, w.today.AddDate(-3, 0, 0))
		}
		d.Residents = append(d.Residents, row)
	}
	return d
}

func lastOfMonth(t time.Time) time.Time {
	return date(t.Year(), t.Month(), 1).AddDate(0, 1, -1)
}

// origin is a county people move to 铜陵 from.
type origin struct {
	code, name string
	urban      bool
}

// origins are real county-level divisions of Anhui and its neighbours.
var origins = []origin{
	{"340102", "安徽省合肥市瑶海区", true}, {"340103", "安徽省合肥市庐阳区", true}, {"340104", "安徽省合肥市蜀山区", true},
	{"340111", "安徽省合肥市包河区", true}, {"340123", "安徽省合肥市肥西县", false}, {"340202", "安徽省芜湖市镜湖区", true},
	{"340207", "安徽省芜湖市鸠江区", true}, {"340802", "安徽省安庆市迎江区", true}, {"340803", "安徽省安庆市大观区", true},
	{"340811", "安徽省安庆市宜秀区", true}, {"340822", "安徽省安庆市怀宁县", false}, {"340826", "安徽省安庆市宿松县", false},
	{"340828", "安徽省安庆市岳西县", false}, {"341702", "安徽省池州市贵池区", true}, {"341721", "安徽省池州市东至县", false},
	{"341723", "安徽省池州市青阳县", false}, {"341522", "安徽省六安市霍邱县", false}, {"341221", "安徽省阜阳市临泉县", false},
	{"341321", "安徽省宿州市砀山县", false}, {"340421", "安徽省淮南市凤台县", false}, {"341621", "安徽省亳州市涡阳县", false},
	{"320102", "江苏省南京市玄武区", true}, {"330106", "浙江省杭州市西湖区", true}, {"360102", "江西省南昌市东湖区", true},
	{"420102", "湖北省武汉市江岸区", true}, {"410102", "河南省郑州市中原区", true},
}

var (
	originTowns    = []string{"城关镇", "新集镇", "高桥镇", "王集镇", "石门镇", "河口镇", "双河镇", "三元镇", "杨桥镇", "白湖镇"}
	originVillages = []string{"新建村", "和平村", "胜利村", "光明村", "东风村", "长岗村", "桥头村", "大圩村", "马店村", "刘庄村"}
	originRoads    = []string{"人民路", "长江路", "解放路", "中山路", "建设路", "淮河路", "环城路", "胜利路"}
)

func originAddress(r *rand.Rand, o origin) string {
	if o.urban {
		return fmt.Sprintf("%s%s%d号", o.name, originRoads[r.IntN(len(originRoads))], 1+r.IntN(300))
	}
	return fmt.Sprintf("%s%s%s%d组", o.name, originTowns[r.IntN(len(originTowns))], originVillages[r.IntN(len(originVillages))], 1+r.IntN(12))
}

// local tells the ID address codes of 铜陵 and its predecessors.
func local(idNumber string) bool {
	return len(idNumber) >= 6 && (idNumber[:4] == "3407" || idNumber[:6] == "340823")
}

var contraceptions = []string{"宫内节育器", "避孕套", "绝育术", "口服避孕药", "皮下埋植", "无"}

func (w *world) health() HealthData {
	r := w.rng(Health)
	n := w.noiser(Health)
	var d HealthData

	// 流动人口: urban households whose head came from elsewhere, most often
	// those whose ID number says so.
	seq := int64(4000000)
	for h, ms := range w.members {
		if w.village[h] || len(ms) == 0 {
			continue
		}
		head := w.person(ms[0])
		p := 0.08
		if !local(head.IDNumber) {
			p = 0.6
		}
		if a := w.age(ms[0]); a < 20 || a > 65 {
			p *= 0.3
		}
		if r.Float64() >= p {
			continue
		}
		o := origins[r.IntN(len(origins))]
		if !local(head.IDNumber) {
			for _, x := range origins {
				if x.code == head.IDNumber[:6] {
					o = x
				}
			}
		}
		from := originAddress(r, o)
		inflow := w.daysAgo(r, 60, 12*365)
		for k, i := range ms {
			p := w.person(i)
			a := w.age(i)
			reason := "FAMILY"
			switch {
			case a < 18:
				reason = []string{"FAMILY", "STUDY"}[r.IntN(2)]
			case k == 0 || a < 60 && r.Float64() < 0.5:
				reason = []string{"WORK", "BUSINESS", "STUDY", "FAMILY", "OTHER"}[pick(r, 62, 18, 4, 10, 6)]
			}
			in := maxDate(inflow, p.BirthDate)
			seq++
			d.Floating = append(d.Floating, Floating{
				Row: seq, Ident: n.ident("floating", seq, i), InflowDate: in, OriginAddress: from, OriginCode: o.code,
				Reason: reason, ResidencePermit: a >= 16 && r.Float64() < 0.65, Updated: w.touch(r, in),
			})
		}
	}
	d.Floating = addDuplicates(n, "floating", d.Floating, &seq, func(x *Floating) (*int64, int64, *time.Time) { return &x.Row, x.PersonID, &x.Updated })

	// 婚育: everyone 15 and over, marital status from the household register
	// where it tells (a spouse at home), by age otherwise.
	d.Marriage = make([]Marriage, 0, len(w.city.Persons))
	seq = 5000000
	for _, ms := range w.members {
		hasSpouse, hasOther, hasGrand, parents := false, false, false, 0
		children, grandchildren := 0, 0
		firstChild := int32(-1)
		for _, i := range ms {
			switch w.person(i).Relation {
			case synth.RelSpouse:
				hasSpouse = true
			case synth.RelOther:
				hasOther = true
			case synth.RelGrandchild:
				hasGrand = true
				grandchildren++
			case synth.RelParent:
				parents++
			case synth.RelChild:
				children++
				if firstChild < 0 {
					firstChild = i
				}
			}
		}
		for _, i := range ms {
			p := w.person(i)
			a := w.age(i)
			if a < 15 {
				continue
			}
			status, kids := "", 0
			switch p.Relation {
			case synth.RelHead:
				kids = children
				if hasSpouse {
					status = "MARRIED"
				}
			case synth.RelSpouse:
				status, kids = "MARRIED", children
			case synth.RelOther:
				status, kids = "MARRIED", grandchildren
			case synth.RelChild:
				if i == firstChild && (hasOther || hasGrand) {
					status, kids = "MARRIED", grandchildren
				}
			case synth.RelParent:
				kids = 1 + r.IntN(3)
				if parents == 2 {
					status = "MARRIED"
				}
			}
			if status == "" {
				status = maritalByAge(r, a, p.Gender == "M")
			}
			if status != "SINGLE" && a >= 40 && kids == 0 && r.Float64() > 0.08 {
				switch y := p.BirthDate.Year(); {
				case y < 1950:
					kids = 2 + r.IntN(4)
				case y < 1972:
					kids = 1 + r.IntN(3)
				default:
					kids = 1 + r.IntN(2)
				}
			}
			if status == "SINGLE" {
				kids = 0
			}
			fertile := p.Gender == "F" && a >= 15 && a <= 49
			contra := ""
			if fertile && status == "MARRIED" && a >= 20 {
				contra = contraceptions[pick(r, 45, 30, 8, 3, 2, 12)]
			}
			seq++
			d.Marriage = append(d.Marriage, Marriage{
				Row: seq, Ident: n.ident("marriage", seq, i), MaritalStatus: status, Children: kids,
				ChildbearingAge: fertile, Contraception: contra, Updated: w.touch(r, w.today.AddDate(-4, 0, 0)),
			})
		}
	}
	d.Marriage = addDuplicates(n, "marriage", d.Marriage, &seq, func(x *Marriage) (*int64, int64, *time.Time) { return &x.Row, x.PersonID, &x.Updated })

	// 出生登记: children born in the last five years, registered to their
	// mother found in the household.
	var hospitals []string
	for _, o := range w.city.Organizations {
		if o.Kind == synth.KindHospital {
			hospitals = append(hospitals, o.Name)
		}
	}
	if len(hospitals) == 0 {
		hospitals = []string{"铜陵市人民医院", "铜陵市立医院", "铜陵市妇幼保健院"}
	}
	seq = 6000000
	since := w.today.AddDate(-5, 0, 0)
	for _, ms := range w.members {
		for _, c := range ms {
			child := w.person(c)
			if child.BirthDate.Before(since) {
				continue
			}
			var mothers []string
			switch child.Relation {
			case synth.RelChild:
				mothers = []string{synth.RelHead, synth.RelSpouse}
			case synth.RelGrandchild:
				mothers = []string{synth.RelChild, synth.RelOther}
			default:
				continue
			}
			mother := int32(-1)
			for _, i := range ms {
				p := w.person(i)
				at := ageOn(p.BirthDate, child.BirthDate)
				if p.Gender == "F" && at >= 18 && at <= 46 && (p.Relation == mothers[0] || p.Relation == mothers[1]) {
					mother = i
					break
				}
			}
			if mother < 0 {
				continue
			}
			name := child.Name
			if w.today.Sub(child.BirthDate) < 30*24*time.Hour && r.Float64() < 0.5 {
				name = "" // not named yet when registered
			}
			seq++
			d.Births = append(d.Births, Birth{
				Row: seq, Mother: n.ident("births", seq, mother), ChildPersonID: child.ID, ChildName: name,
				ChildGender: child.Gender, BirthDate: child.BirthDate,
				CertificateNumber: fmt.Sprintf("%c%09d", 'O'+rune(child.BirthDate.Year()-2020), r.IntN(1_000_000_000)),
				Hospital:          hospitals[r.IntN(len(hospitals))], Updated: w.touch(r, child.BirthDate.AddDate(0, 0, 3)),
			})
		}
	}
	d.Births = addDuplicates(n, "births", d.Births, &seq, func(x *Birth) (*int64, int64, *time.Time) { return &x.Row, x.Mother.PersonID, &x.Updated })
	w.showcaseHealth(&d, n, hospitals)
	return d
}

// maritalByAge is the marital status of someone whose household does not say.
func maritalByAge(r *rand.Rand, age int, male bool) string {
	if age < 20 || male && age < 22 {
		return "SINGLE"
	}
	single := 0.04
	switch {
	case age < 25:
		single = 0.88
	case age < 30:
		single = 0.55
	case age < 35:
		single = 0.25
	case age < 40:
		single = 0.12
	case age < 50:
		single = 0.07
	}
	if r.Float64() < single {
		return "SINGLE"
	}
	var w [3]float64 // married (apart), divorced, widowed
	switch {
	case age < 55:
		w = [3]float64{40, 55, 5}
	case age < 70:
		w = [3]float64{30, 25, 45}
	default:
		w = [3]float64{10, 10, 80}
	}
	return []string{"MARRIED", "DIVORCED", "WIDOWED"}[pick(r, w[:]...)]
}
