package deptsim

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/gridhub/gridhub/internal/synth"
)

var (
	unemploymentReasons = []string{"劳动合同期满终止", "用人单位裁员", "个人辞职", "企业破产或关闭", "毕业后未就业", "灵活就业中断", "其他原因"}
	trainings           = []string{"电工", "焊工", "育婴员", "家政服务员", "电子商务", "中式烹调师", "养老护理员", "叉车司机", "美容师", "网络直播营销"}
	welfarePosts        = []string{"保洁", "治安巡逻", "绿化养护", "社区协管", "停车管理", "养老服务"}
	subsidies           = []string{"灵活就业社会保险补贴", "公益性岗位补贴", "职业培训补贴", "一次性创业补贴", "求职创业补贴"}
)

func (w *world) employment() EmploymentData {
	r := w.rng(Employment)
	n := w.noiser(Employment)
	var d EmploymentData
	var enterprises []string
	for _, o := range w.city.Organizations {
		if o.Kind == synth.KindEnterprise || o.Kind == synth.KindMarket {
			enterprises = append(enterprises, o.Name)
		}
	}
	if len(enterprises) == 0 {
		enterprises = []string{"铜陵市某商贸有限公司"}
	}
	type reg struct {
		i    int32
		u    Unemployment
		cert bool
	}
	var regs []reg
	seq := int64(800000)
	for i := range w.city.Persons {
		i := int32(i)
		a := w.age(i)
		if a < 18 || w.retired(i) || w.tekun[i] {
			continue
		}
		if w.dead[i] {
			continue
		}
		pReg := 0.018
		switch {
		case a < 25:
			pReg = 0.03
		case a < 40:
			pReg = 0.015
		case a >= 50:
			pReg = 0.024
		}
		if w.inVillage(i) {
			pReg *= 0.5
		}
		if w.dibao[i] {
			pReg *= 2.5
		}
		if w.disabled[i] > 0 {
			pReg *= 1.5
		}
		u := r.Float64()
		var status string
		var regOn time.Time
		switch {
		case u < pReg:
			status, regOn = "REGISTERED", w.daysAgo(r, 7, 730)
		case u < pReg+0.015:
			status, regOn = "REEMPLOYED", w.daysAgo(r, 60, 5*365)
		case u < pReg+0.019:
			status, regOn = "CANCELLED", w.daysAgo(r, 60, 5*365)
		default:
			continue
		}
		p := w.person(i)
		regOn = maxDate(regOn, p.BirthDate.AddDate(18, 0, 0))
		graduate := 0.0 // 毕业后未就业 only for the young
		if ageOn(p.BirthDate, regOn) < 28 {
			graduate = 40
		}
		reason := unemploymentReasons[pick(r, 30, 12, 25, 8, graduate, 10, 5)]
		seq++
		rec := Unemployment{Row: seq, Ident: n.ident("unemployment", seq, i), RegisteredOn: regOn, Status: status, Reason: reason}
		rec.Updated = w.touch(r, regOn)
		regs = append(regs, reg{i: i, u: rec, cert: r.Float64() < 0.93})
	}
	for _, g := range regs {
		d.Unemployment = append(d.Unemployment, g.u)
	}
	d.Unemployment = addDuplicates(n, "unemployment", d.Unemployment, &seq, func(x *Unemployment) (*int64, int64, *time.Time) {
		return &x.Row, x.PersonID, &x.Updated
	})

	// 就业创业证: issued at registration.
	seq = 200000
	for _, g := range regs {
		if !g.cert {
			continue
		}
		issued := minDate(g.u.RegisteredOn.AddDate(0, 0, r.IntN(8)), w.today)
		seq++
		d.Certificates = append(d.Certificates, EmploymentCertificate{
			Row: seq, Ident: n.ident("certificate", seq, g.i),
			Number:   fmt.Sprintf("%s%04d%06d", w.city.Area[:min(6, len(w.city.Area))], issued.Year(), seq%1000000),
			IssuedOn: issued, Updated: w.touch(r, issued),
		})
	}
	d.Certificates = addDuplicates(n, "certificate", d.Certificates, &seq, func(x *EmploymentCertificate) (*int64, int64, *time.Time) {
		return &x.Row, x.PersonID, &x.Updated
	})

	// 就业困难人员: recognised among the registered, by the category they fit.
	seq = 900000
	hardship := map[int32]bool{}
	for _, g := range regs {
		if g.u.Status == "CANCELLED" {
			continue
		}
		i := g.i
		p := w.person(i)
		a := w.age(i)
		cat, prob := "OTHER", 0.03
		switch {
		case w.disabled[i] > 0:
			cat, prob = "DISABLED", 0.6
		case w.dibao[i]:
			cat, prob = "LOW_INCOME", 0.5
		case p.Gender == "F" && a >= 40 || p.Gender == "M" && a >= 50:
			cat, prob = "AGE_4050", 0.27
		case g.u.Status == "REGISTERED" && w.today.Sub(g.u.RegisteredOn) > 365*24*time.Hour:
			cat, prob = "LONG_TERM_UNEMPLOYED", 0.2
		case w.zeroEmployment(i):
			cat, prob = "ZERO_EMPLOYMENT_FAMILY", 0.3
		}
		if r.Float64() >= prob {
			continue
		}
		on := minDate(g.u.RegisteredOn.AddDate(0, 0, 10+r.IntN(80)), w.today)
		seq++
		d.Hardship = append(d.Hardship, Hardship{Row: seq, Ident: n.ident("hardship", seq, i), Category: cat, RecognizedOn: on, Updated: w.touch(r, on)})
		hardship[i] = true
	}
	d.Hardship = addDuplicates(n, "hardship", d.Hardship, &seq, func(x *Hardship) (*int64, int64, *time.Time) { return &x.Row, x.PersonID, &x.Updated })

	// 援助记录: referrals, training, public-welfare posts and subsidies since registration.
	seq = 3000000
	for _, g := range regs {
		if g.u.Status == "CANCELLED" {
			continue
		}
		k := r.IntN(3)
		if hardship[g.i] {
			k = 1 + r.IntN(4)
		}
		end := w.today
		if g.u.Status == "REEMPLOYED" {
			end = dayOf(g.u.Updated)
		}
		for range k {
			var kind, detail string
			switch pick(r, 45, 25, 10, 20) {
			case 0:
				kind, detail = "JOB_REFERRAL", "推荐至"+enterprises[r.IntN(len(enterprises))]+"面试"
			case 1:
				kind, detail = "TRAINING", "参加"+trainings[r.IntN(len(trainings))]+"职业技能培训"
			case 2:
				if !hardship[g.i] {
					kind, detail = "JOB_REFERRAL", "推荐至"+enterprises[r.IntN(len(enterprises))]+"面试"
					break
				}
				kind, detail = "PUBLIC_WELFARE_POST", "安置"+w.communityName(w.person(g.i).GridCode)+welfarePosts[r.IntN(len(welfarePosts))]+"公益性岗位"
			default:
				kind, detail = "SUBSIDY", fmt.Sprintf("发放%s%d元", subsidies[r.IntN(len(subsidies))], 300+100*r.IntN(30))
			}
			on := between(r, g.u.RegisteredOn, end)
			seq++
			d.Assistance = append(d.Assistance, Assistance{Row: seq, Ident: n.ident("assistance", seq, g.i), Kind: kind, Date: on, Detail: detail, Updated: w.touch(r, on)})
		}
	}
	w.showcaseEmployment(&d, n, enterprises)
	return d
}

// zeroEmployment tells whether no other working-age member lives in person
// i's household (a 零就业家庭 candidate).
func (w *world) zeroEmployment(i int32) bool {
	h := w.household(i)
	if h < 0 {
		return false
	}
	for _, j := range w.members[h] {
		if j != i && w.age(j) >= 18 && !w.retired(j) {
			return false
		}
	}
	return true
}

func (w *world) socialSecurity() SocialSecurityData {
	r := w.rng(SocialSecurity)
	n := w.noiser(SocialSecurity)
	d := SocialSecurityData{
		Pension: make([]Pension, 0, len(w.city.Persons)),
		Medical: make([]Medical, 0, len(w.city.Persons)+len(w.city.Persons)/50),
	}
	seq := int64(10000000)
	for i := range w.city.Persons {
		i := int32(i)
		p := w.person(i)
		a := w.age(i)
		if a < 18 {
			continue
		}
		cover := 0.915
		if a < 23 {
			cover = 0.6
		}
		if r.Float64() >= cover {
			continue
		}
		scheme := "EMPLOYEE"
		pEmp := 0.72
		if w.inVillage(i) {
			pEmp = 0.25
		}
		if r.Float64() >= pEmp {
			scheme = "RESIDENT"
		}
		var since time.Time
		if scheme == "EMPLOYEE" {
			since = maxDate(p.BirthDate.AddDate(18+r.IntN(7), r.IntN(12), 0), date(1986, 1, 1))
		} else {
			since = maxDate(date(2010, 1, 1).AddDate(0, r.IntN(48), 0), p.BirthDate.AddDate(16, 1, 0))
		}
		since = date(since.Year(), since.Month(), 1)
		var status string
		var benefit Money
		if w.retired(i) {
			status = "RECEIVING"
			if scheme == "EMPLOYEE" {
				years := w.today.Year() - since.Year()
				benefit = Money((1800+30*int64(years)+int64(r.IntN(1500)))*100 + int64(r.IntN(100)))
			} else {
				benefit = Money((160+int64(r.IntN(180)))*100 + int64(r.IntN(100)))
			}
		} else {
			status = []string{"CONTRIBUTING", "SUSPENDED", "TERMINATED"}[pick(r, 84, 13, 3)]
		}
		// A death reaches social security late: most pensions are still paid.
		if w.dead[i] && r.Float64() >= 0.7 {
			status, benefit = "TERMINATED", 0
		}
		seq++
		d.Pension = append(d.Pension, Pension{
			Row: seq, Ident: n.ident("pension", seq, i), Scheme: scheme, Status: status, Since: since,
			MonthlyBenefit: benefit, Updated: w.touch(r, maxDate(since, w.today.AddDate(-2, 0, 0))),
		})
		w.employee[i] = scheme == "EMPLOYEE"
	}
	d.Pension = addDuplicates(n, "pension", d.Pension, &seq, func(x *Pension) (*int64, int64, *time.Time) { return &x.Row, x.PersonID, &x.Updated })

	seq = 20000000
	for i := range w.city.Persons {
		i := int32(i)
		if r.Float64() >= 0.962 {
			continue
		}
		p := w.person(i)
		scheme := "RESIDENT"
		var since time.Time
		if w.employee[i] && w.age(i) >= 18 {
			scheme = "EMPLOYEE"
			since = maxDate(p.BirthDate.AddDate(18+r.IntN(7), r.IntN(12), 0), date(1998, 12, 1))
		} else {
			since = maxDate(date(2008, 1, 1).AddDate(0, r.IntN(120), 0), p.BirthDate.AddDate(0, 1, 0))
		}
		since = date(since.Year(), since.Month(), 1)
		status := "INSURED"
		if r.Float64() < 0.03 {
			status = "LAPSED"
		}
		if w.dead[i] && r.Float64() >= 0.7 {
			status = "LAPSED"
		}
		seq++
		d.Medical = append(d.Medical, Medical{
			Row: seq, Ident: n.ident("medical", seq, i), Scheme: scheme, Status: status, Since: since,
			Updated: w.touch(r, maxDate(since, w.today.AddDate(-1, 0, 0))),
		})
	}
	d.Medical = addDuplicates(n, "medical", d.Medical, &seq, func(x *Medical) (*int64, int64, *time.Time) { return &x.Row, x.PersonID, &x.Updated })
	w.showcaseSocialSecurity(&d, n)
	return d
}

// caseCategory is a kind of 城管 case with its handling limit (days) and who
// the party usually is (weights of none, person, organisation).
type caseCategory struct {
	kind, name       string
	weight           float64
	limit            int
	none, pers, orgs float64
	orgKinds         []string
	what             string
}

var caseCategories = []caseCategory{
	{"EVENT", "占道经营", 18, 1, 20, 50, 30, []string{synth.KindShop, synth.KindMarket}, "占用人行道摆摊经营，影响行人通行"},
	{"EVENT", "店外经营", 10, 2, 15, 0, 85, []string{synth.KindShop}, "商户超出门窗店外经营"},
	{"EVENT", "流动摊贩", 8, 1, 40, 60, 0, nil, "流动摊贩沿街叫卖"},
	{"EVENT", "乱堆物料", 8, 3, 40, 30, 30, []string{synth.KindShop, synth.KindEnterprise}, "建筑材料及杂物乱堆乱放"},
	{"EVENT", "违规户外广告", 6, 5, 20, 0, 80, []string{synth.KindShop, synth.KindEnterprise}, "未经审批设置户外广告牌"},
	{"EVENT", "私搭乱建", 5, 15, 10, 70, 20, []string{synth.KindShop, synth.KindEnterprise}, "私自搭建违章构筑物"},
	{"EVENT", "露天烧烤", 4, 1, 10, 40, 50, []string{synth.KindShop}, "夜间露天烧烤油烟扰民"},
	{"EVENT", "暴露垃圾", 10, 1, 100, 0, 0, nil, "生活垃圾堆积未及时清运"},
	{"EVENT", "乱停放非机动车", 5, 1, 100, 0, 0, nil, "非机动车乱停乱放"},
	{"EVENT", "渣土撒漏", 3, 2, 30, 0, 70, []string{synth.KindEnterprise}, "渣土车辆沿途撒漏"},
	{"EVENT", "噪音扰民", 3, 3, 20, 30, 50, []string{synth.KindShop, synth.KindEnterprise}, "噪音扰民，群众反映强烈"},
	{"COMPONENT", "井盖破损", 6, 3, 100, 0, 0, nil, "窨井盖破损存在安全隐患"},
	{"COMPONENT", "路灯损坏", 6, 5, 100, 0, 0, nil, "路灯不亮"},
	{"COMPONENT", "垃圾桶破损", 4, 3, 100, 0, 0, nil, "垃圾桶破损"},
	{"COMPONENT", "道路破损", 4, 7, 100, 0, 0, nil, "路面坑洼破损"},
	{"COMPONENT", "护栏损坏", 3, 5, 100, 0, 0, nil, "道路护栏损坏"},
	{"COMPONENT", "消防栓损坏", 1, 3, 100, 0, 0, nil, "消防栓损坏漏水"},
	{"COMPONENT", "交通标志牌损坏", 2, 5, 100, 0, 0, nil, "交通标志牌倾斜损坏"},
	{"COMPONENT", "行道树缺失", 2, 10, 100, 0, 0, nil, "行道树缺株"},
}

var caseSources = []string{"网格员上报", "12345热线", "监督员巡查", "视频监控发现"}

// casesPerResidentYear is the 城管 caseload: about 15 cases per 1,000
// residents a year.
const casesPerResidentYear = 0.015

// caseYears is how far back the case system reaches.
const caseYears = 2

func (w *world) urbanManagement() UrbanManagementData {
	r := w.rng(UrbanManagement)
	n := w.noiser(UrbanManagement)
	orgsByKind := map[string][]int{}
	for k, o := range w.city.Organizations {
		orgsByKind[o.Kind] = append(orgsByKind[o.Kind], k)
	}
	var adults []int32
	for i := range w.city.Persons {
		if a := w.age(int32(i)); a >= 20 && a <= 70 {
			adults = append(adults, int32(i))
		}
	}
	weights := make([]float64, len(caseCategories))
	pools := make([][]int, len(caseCategories)) // organisations each category may involve
	for k, c := range caseCategories {
		weights[k] = c.weight
		for _, kind := range c.orgKinds {
			pools[k] = append(pools[k], orgsByKind[kind]...)
		}
	}
	total := int(math.Round(float64(len(w.city.Persons)) * casesPerResidentYear * caseYears))
	cases := make([]Case, 0, total)
	partyOf := make([]int32, 0, total)
	start := w.today.AddDate(-caseYears, 0, 0)
	overdueOpen := 0
	for range total {
		ci := pick(r, weights...)
		cat := caseCategories[ci]
		c := Case{Kind: cat.kind, Category: cat.name, Source: caseSources[pick(r, 45, 25, 20, 10)]}
		c.ReportedAt = clock(r, between(r, start, w.today))
		party := int32(-1)
		switch pick(r, cat.none, cat.pers, cat.orgs) {
		case 1:
			if len(adults) > 0 {
				party = adults[r.IntN(len(adults))]
				c.PartyType = PartyPerson
			}
		case 2:
			if pool := pools[ci]; len(pool) > 0 {
				o := &w.city.Organizations[pool[r.IntN(len(pool))]]
				c.PartyType, c.OrgID, c.CreditCode, c.OrgName = PartyOrganization, o.ID, o.CreditCode, o.Name
				c.Lon, c.Lat = jitter(r, o.Lon, o.Lat, 20)
				c.Address, c.GridCode = o.Address+"门前", o.GridCode
			}
		}
		if c.PartyType != PartyOrganization {
			var b *synth.Building
			if party >= 0 {
				if h := w.household(party); h >= 0 {
					b = &w.city.Buildings[w.bldIndex[w.city.Households[h].BuildingID]]
				}
			}
			if b == nil && len(w.city.Buildings) > 0 {
				b = &w.city.Buildings[r.IntN(len(w.city.Buildings))]
			}
			if b != nil {
				c.Lon, c.Lat = jitter(r, b.Lon, b.Lat, 30)
				c.Address, c.GridCode = b.Address+"附近", b.GridCode
			}
		}
		c.Description = fmt.Sprintf("%s：%s%s。", c.Source, c.Address, cat.what)
		w.caseTimeline(r, &c, cat.limit)
		// One in five overdue open cases was never given a grid by the case
		// system (a finding of the hub's, overdueCaseWithoutGrid).
		if c.Overdue && c.Stage != "CLOSED" {
			if overdueOpen%5 == 0 {
				c.GridCode = ""
			}
			overdueOpen++
		}
		cases = append(cases, c)
		partyOf = append(partyOf, party)
	}
	cases, partyOf = w.showcaseCases(cases, partyOf)
	// Number the cases in report order: date and the day's sequence.
	order := make([]int, len(cases))
	for k := range order {
		order[k] = k
	}
	slices.SortStableFunc(order, func(a, b int) int { return cases[a].ReportedAt.Compare(cases[b].ReportedAt) })
	var d UrbanManagementData
	daySeq, lastDay := 0, ""
	for k, idx := range order {
		c := cases[idx]
		day := c.ReportedAt.Format("20060102")
		if day != lastDay {
			daySeq, lastDay = 0, day
		}
		daySeq++
		c.Row = int64(600001 + k)
		c.Number = fmt.Sprintf("%s%04d", day, daySeq)
		if p := partyOf[idx]; p >= 0 {
			c.Party = n.ident("cases", c.Row, p)
			c.Description = fmt.Sprintf("%s当事人：%s。", c.Description, c.Party.Name)
		}
		d.Cases = append(d.Cases, c)
	}
	return d
}

// caseTimeline walks a case through 受理-立案-派遣-处置-核查-结案 and sets its
// stage today, deadline and overdue flag.
func (w *world) caseTimeline(r *rand.Rand, c *Case, limit int) {
	now := time.Date(w.today.Year(), w.today.Month(), w.today.Day(), 18, 0, 0, 0, cst)
	at := c.ReportedAt
	rd := dayOf(at)
	c.Deadline = rd.AddDate(0, 0, limit)
	dueEnd := time.Date(c.Deadline.Year(), c.Deadline.Month(), c.Deadline.Day(), 23, 59, 59, 0, cst)
	minutes := func(lo, hi int) time.Duration { return time.Duration(lo+r.IntN(hi-lo+1)) * time.Minute }
	steps := []struct {
		stage string
		after time.Duration
	}{
		{"FILED", minutes(10, 120)},
		{"DISPATCHED", minutes(10, 240)},
		{"HANDLING", minutes(30, 600)},
		// Handling takes about 40% of the limit, a few cases longer than it.
		{"VERIFYING", time.Duration(float64(limit) * 24 * float64(time.Hour) * math.Exp(r.NormFloat64()*0.45-0.9))},
		{"CLOSED", minutes(60, 48*60)},
	}
	if r.Float64() < 0.1 {
		steps[0].after = minutes(24*60, 3*24*60) // 立案 waits for a field check
	}
	if r.Float64() < 0.1 {
		steps[1].after = minutes(24*60, 2*24*60) // 派遣 disputed between bureaus
	}
	// A few cases get stuck at some stage (疑难案件) and run overdue.
	stuck := len(steps)
	if r.Float64() < 0.03 {
		stuck = r.IntN(len(steps))
	}
	c.Stage, c.Updated = "ACCEPTED", at
	var handledAt time.Time
	for _, s := range steps[:stuck] {
		next := at.Add(s.after).Truncate(time.Second)
		if next.After(now) {
			break
		}
		at = next
		c.Stage, c.Updated = s.stage, at
		if s.stage == "VERIFYING" {
			handledAt = at
		}
		if s.stage == "CLOSED" {
			c.ClosedAt = at
		}
	}
	switch {
	case !handledAt.IsZero():
		c.Overdue = handledAt.After(dueEnd)
	default:
		c.Overdue = now.After(dueEnd)
	}
}

// partyRate is the share of party members by age, before the sex factor.
func partyRate(age int) float64 {
	switch {
	case age < 23:
		return 0.025
	case age < 31:
		return 0.06
	case age < 46:
		return 0.075
	case age < 61:
		return 0.08
	case age < 76:
		return 0.09
	}
	return 0.1
}

var (
	outReasons      = []string{"外出务工，联系方式变更", "长期在外，多次联系未果", "手机停机，家人不知去向"}
	transferSources = []string{"合肥市", "芜湖市", "安庆市", "池州市", "南京市", "杭州市", "上海市", "原单位"}
)

func (w *world) partyBuilding() PartyBuildingData {
	r := w.rng(PartyBuilding)
	n := w.noiser(PartyBuilding)
	type cand struct {
		i int32
		m Member
	}
	var ms []cand
	for i := range w.city.Persons {
		i := int32(i)
		p := w.person(i)
		a := w.age(i)
		if a < 18 {
			continue
		}
		pr := partyRate(a) * 1.35
		if p.Gender == "F" {
			pr = partyRate(a) * 0.65
		}
		if r.Float64() >= pr {
			continue
		}
		m := Member{Ethnicity: p.Ethnicity}
		probation := 0.015
		switch {
		case a < 20:
			probation = 1 // too young to have finished a probation year
		case a < 36:
			probation = 0.12
		}
		if r.Float64() < probation {
			m.Category = "PROBATIONARY"
			m.JoinedOn = maxDate(w.daysAgo(r, 10, 360), p.BirthDate.AddDate(18, 0, 0))
			m.Remark = "预备期至" + m.JoinedOn.AddDate(1, 0, 0).Format("2006.01.02")
		} else {
			m.Category = "FULL"
			joinAge := min(18+int(math.Abs(r.NormFloat64()*9)), a-1)
			lo := p.BirthDate.AddDate(joinAge, 0, 0)
			m.JoinedOn = minDate(between(r, lo, lo.AddDate(0, 11, 0)), w.today.AddDate(-1, 0, -1))
			m.RegularOn = m.JoinedOn.AddDate(1, 0, 0)
		}
		comm := w.communityName(p.GridCode)
		if a >= 60 && r.Float64() < 0.5 {
			m.Branch = comm + "离退休党支部"
		} else {
			no := 1
			if len(p.GridCode) == 15 {
				fmt.Sscanf(p.GridCode[12:], "%d", &no)
			}
			m.Branch = comm + "第" + chineseNumeral(max(1, min(no, 99))) + "党支部"
		}
		if r.Float64() < 0.15 {
			m.Transferred = true
			if m.Remark == "" {
				m.Remark = "组织关系由" + transferSources[r.IntN(len(transferSources))] + "转入"
			}
		}
		if a >= 22 && a <= 60 && r.Float64() < 0.012 {
			m.OutOfContact = true
			m.LastContact = w.daysAgo(r, 183, 900)
			m.Remark = outReasons[r.IntN(len(outReasons))]
		} else {
			m.LastContact = w.daysAgo(r, 0, 90)
		}
		ms = append(ms, cand{i, m})
	}
	for _, i := range w.showcaseIdx {
		k := slices.IndexFunc(ms, func(c cand) bool { return c.i == i })
		if k < 0 {
			ms = append(ms, cand{i: i})
			k = len(ms) - 1
		}
		w.showcaseMember(&ms[k].m, i)
	}
	// The ledger lists members branch by branch, by joining date.
	slices.SortStableFunc(ms, func(a, b cand) int {
		return cmp.Or(cmp.Compare(a.m.Branch, b.m.Branch), a.m.JoinedOn.Compare(b.m.JoinedOn))
	})
	var d PartyBuildingData
	seq := int64(0)
	for _, c := range ms {
		seq++
		m := c.m
		m.Row = seq
		m.Ident = n.ident("membership", seq, c.i)
		d.Members = append(d.Members, m)
	}
	var unused time.Time
	d.Members = addDuplicates(n, "membership", d.Members, &seq, func(x *Member) (*int64, int64, *time.Time) { return &x.Row, x.PersonID, &unused })
	return d
}
