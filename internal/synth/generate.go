package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"github.com/gridhub/gridhub/internal/grid"
)

// Options choose the city to generate.
type Options struct {
	// Scale is ScaleDemo (铜官区, area 340705; the default) or ScaleCity (all of 铜陵市, 3407).
	Scale string
	// Residents, when positive, scales every community's households so the city
	// holds about this many residents; 0 keeps the natural size (~250,000 for the
	// demo, ~1.3 million for the city).
	Residents int
	// Seed seeds every random choice; 0 means 1. The same Options always give
	// the same City.
	Seed int64
}

// The scales Options.Scale accepts.
const (
	ScaleDemo = "demo"
	ScaleCity = "city"
)

// meanHouseholdSize is the mean of householdSizeWeights; it converts a resident
// target into households.
const meanHouseholdSize = 2.6

// Salts separate the random streams of a community's planning and population,
// so a change to how people are drawn leaves the plan (grids, polygons) alone.
const (
	saltPlan uint64 = 0x9e3779b97f4a7c15
	saltPop  uint64 = 0xc2b2ae3d27d4eb4f
)

// Generate builds the city opts describe. It is deterministic: all randomness
// comes from PCG streams seeded by opts.Seed and each community's code, processed
// in code order, and ages are taken on the fixed RefDate.
func Generate(opts Options) (*City, error) {
	g, err := plan(opts)
	if err != nil {
		return nil, err
	}
	if err := g.populate(); err != nil {
		return nil, err
	}
	return g.city, nil
}

// communityKind refines grid.CommunityType for density: development-zone
// communities are living quarters, industrial parks or virtual (few residents).
type communityKind int

const (
	urban communityKind = iota
	village
	industrial
	virtual
)

type largeOrg struct {
	kind, name string
}

type community struct {
	div        grid.Division
	kind       communityKind
	natural    int // households at natural density
	households int // households to generate
	large      []largeOrg
	grids      []int // positions in generator.units: residential grids, then unit grids
	// planRNG draws the households, then the large organisations, which so do
	// not depend on the resident target.
	planRNG *rand.Rand
}

type generator struct {
	seed     int64
	area     string
	cityName string
	scale    float64 // generated / natural households
	divs     map[string]grid.Division
	comms    []*community
	units    []grid.Unit
	names    names
	ids      idRegistry
	city     *City
}

func (g *generator) rng(code string, salt uint64) *rand.Rand {
	h := uint64(14695981039346656037) // FNV-1a
	for i := 0; i < len(code); i++ {
		h ^= uint64(code[i])
		h *= 1099511628211
	}
	return rand.New(rand.NewPCG(uint64(g.seed), h^salt))
}

// plan draws each community's households and large organisations and lays out
// the grid registry; nothing about people yet.
func plan(opts Options) (*generator, error) {
	var area string
	switch opts.Scale {
	case "", ScaleDemo:
		area = "340705"
	case ScaleCity:
		area = "3407"
	default:
		return nil, fmt.Errorf("synth: unknown scale %q (want %q or %q)", opts.Scale, ScaleDemo, ScaleCity)
	}
	if opts.Residents < 0 {
		return nil, fmt.Errorf("synth: negative residents %d", opts.Residents)
	}
	seed := opts.Seed
	if seed == 0 {
		seed = 1
	}
	divs, err := grid.LoadDivisions(area)
	if err != nil {
		return nil, err
	}
	cityName, err := grid.CityName(area)
	if err != nil {
		return nil, err
	}
	g := &generator{
		seed:     seed,
		area:     area,
		cityName: cityName,
		scale:    1,
		divs:     make(map[string]grid.Division, len(divs)),
		names:    names{},
	}
	natural := 0
	for _, d := range divs {
		g.divs[d.Code] = d
		if d.Level != grid.Community {
			continue
		}
		c := &community{div: d, kind: kindOf(d), planRNG: g.rng(d.Code, saltPlan)}
		c.natural = naturalHouseholds(c.planRNG, c.kind)
		c.households = c.natural
		natural += c.natural
		g.comms = append(g.comms, c)
	}
	if opts.Residents > 0 {
		f := float64(opts.Residents) / (float64(natural) * meanHouseholdSize)
		total := 0
		for _, c := range g.comms {
			c.households = max(1, int(math.Round(float64(c.natural)*f)))
			total += c.households
		}
		g.scale = float64(total) / float64(natural)
	}
	plans := make(map[string]grid.CommunityPlan, len(g.comms))
	counters := map[string]int{} // per district and kind, for numbered names
	for _, c := range g.comms {
		c.large = g.largeOrgs(c.planRNG, c, counters)
		p := grid.CommunityPlan{Households: c.households}
		for _, o := range c.large {
			p.UnitOrgs = append(p.UnitOrgs, o.name)
		}
		plans[c.div.Code] = p
	}
	g.units, err = grid.Build(divs, plans)
	if err != nil {
		return nil, err
	}
	byCode := make(map[string]*community, len(g.comms))
	for _, c := range g.comms {
		byCode[c.div.Code] = c
	}
	for i, u := range g.units {
		if u.Level == grid.Grid {
			c := byCode[u.Parent]
			c.grids = append(c.grids, i)
		}
	}
	return g, nil
}

func kindOf(d grid.Division) communityKind {
	typ, _ := grid.CommunityTypeOf(d.Code)
	switch {
	case typ == grid.VillageCommunity:
		return village
	case typ != grid.DevZoneCommunity, strings.Contains(d.Name, "生活"):
		return urban
	case strings.Contains(d.Name, "虚拟") || strings.HasSuffix(d.Code, "498"):
		return virtual
	}
	return industrial
}

// naturalHouseholds is a community's registered households at natural density:
// urban "大社区" about 2,500 (1,600-3,400), villages about 750 (450-1,050), so the
// whole city comes to about 1.3 million residents.
func naturalHouseholds(r *rand.Rand, k communityKind) int {
	tri := (r.Float64() + r.Float64()) / 2 // triangular on [0, 1)
	switch k {
	case urban:
		return 1600 + int(1800*tri)
	case village:
		return 450 + int(600*tri)
	case industrial:
		return 300 + int(600*tri)
	}
	return 30 + int(120*tri)
}

// largeOrgs draws the organisations of a community big enough for a unit grid:
// urban communities have 0-2 (schools, hospitals, markets, enterprises),
// industrial parks 1-3 enterprises, villages rarely any.
func (g *generator) largeOrgs(r *rand.Rand, c *community, counters map[string]int) []largeOrg {
	n := 0
	switch u := r.Float64(); c.kind {
	case urban:
		// 0, 1 or 2 with shares 35%, 45%, 20%
		if u >= 0.35 {
			n++
		}
		if u >= 0.8 {
			n++
		}
	case village:
		if u < 0.06 {
			n = 1
		}
	case industrial:
		n = 1 + r.IntN(3)
	case virtual:
		if u < 0.5 {
			n = 1
		}
	}
	district := g.divs[c.div.Code[:6]]
	st := stem(c.div.ShortName())
	var out []largeOrg
	for range n {
		kind := KindEnterprise
		switch u := r.Float64(); {
		case c.kind == village:
			if u < 0.5 {
				kind = KindSchool
			}
		case c.kind != urban:
		case u < 0.35:
			kind = KindSchool
		case u < 0.5:
			kind = KindHospital
		case u < 0.75:
			kind = KindMarket
		}
		var name string
		switch kind {
		case KindSchool:
			key := district.Code + "/中学"
			if c.kind == urban && r.Float64() < 0.45 && counters[key] < 12 {
				counters[key]++
				cityOrDistrict := district.Name
				if district.Code == "340705" {
					cityOrDistrict = g.cityName
				}
				name = g.names.claim(cityOrDistrict + "第" + chineseNumber(counters[key]) + "中学")
			} else {
				name = g.names.claim(district.Name+st+"小学", district.Name+st+"实验小学", district.Name+st+"中心小学")
			}
		case KindHospital:
			var cands []string
			if district.Code == "340705" {
				cands = append(cands, g.cityName+"人民医院", g.cityName+"立医院", g.cityName+"中医医院")
			}
			for _, h := range hospitalNames {
				cands = append(cands, district.Name+h)
			}
			cands = append(cands, district.Name+st+"医院")
			name = g.names.claim(cands...)
		case KindMarket:
			name = g.names.claim(st+"农贸市场", st+"综合市场", "铜陵"+st+"建材市场")
		default:
			name = g.names.claim(companyName(r, heavyIndustries[r.IntN(len(heavyIndustries))]))
		}
		out = append(out, largeOrg{kind: kind, name: name})
	}
	return out
}

func chineseNumber(n int) string {
	const digits = "零一二三四五六七八九"
	d := []rune(digits)
	switch {
	case n < 10:
		return string(d[n])
	case n == 10:
		return "十"
	case n < 20:
		return "十" + string(d[n-10])
	case n%10 == 0:
		return string(d[n/10]) + "十"
	}
	return string(d[n/10]) + "十" + string(d[n%10])
}

// place is where a community's people live, for building addresses.
type place struct {
	r          *rand.Rand
	c          *community
	district   grid.Division
	prefix     string // 铜陵市义安区钟鸣镇
	roads      []string
	short      string // 开源社区, 农林村
	group      int    // village house groups (组) and house numbers
	house      int
	groupSize  int
	compound   string
	compoundNo int // street number of the current compound
	road       string
	buildingNo int
	left       int // buildings left in the current compound
}

// populate generates the people, buildings and organisations, community by community.
func (g *generator) populate() error {
	hh := g.totalHouseholds()
	g.ids.used = make(map[uint64]struct{}, int(float64(hh)*meanHouseholdSize*1.05))
	g.city = &City{
		Seed:       g.seed,
		Area:       g.area,
		Buildings:  make([]Building, 0, hh/20),
		Households: make([]Household, 0, hh),
		Persons:    make([]Person, 0, int(float64(hh)*meanHouseholdSize*1.02)),
	}
	lastTownship := ""
	for _, c := range g.comms {
		p := g.newPlace(c)
		if t := c.div.Parent; t != lastTownship {
			lastTownship = t
			if err := g.government(p, g.divs[t]); err != nil {
				return err
			}
		}
		for _, i := range c.grids {
			if g.units[i].Kind != grid.Residential {
				continue
			}
			var err error
			if c.kind == village {
				err = g.villageGrid(p, i)
			} else {
				err = g.urbanGrid(p, i)
			}
			if err != nil {
				return err
			}
		}
		if err := g.organizations(p); err != nil {
			return err
		}
	}
	if err := grid.SumCounts(g.units); err != nil {
		return err
	}
	g.city.Units = g.units
	return nil
}

func (g *generator) totalHouseholds() int {
	n := 0
	for _, c := range g.comms {
		n += c.households
	}
	return n
}

func (g *generator) newPlace(c *community) *place {
	r := g.rng(c.div.Code, saltPop)
	district := g.divs[c.div.Code[:6]]
	township := g.divs[c.div.Parent]
	prefix := g.cityName + district.Name
	if tt, _ := grid.TownshipTypeOf(township.Code); c.kind == village || tt == grid.Town || tt == grid.Xiang {
		if !strings.Contains(township.Name, "直辖") {
			prefix += township.Name
		}
	}
	pool := townRoads
	if district.Code == "340705" {
		pool = tonglingRoads
	}
	roads := make([]string, 3+r.IntN(4))
	for i := range roads {
		roads[i] = pool[r.IntN(len(pool))]
	}
	return &place{r: r, c: c, district: district, prefix: prefix, roads: roads, short: c.div.ShortName()}
}

// urbanGrid fills a residential grid with compounds of buildings of 24-72
// households, two flats a floor in each stairwell (单元).
func (g *generator) urbanGrid(p *place, gi int) error {
	r := p.r
	u := &g.units[gi]
	bound := u.Polygon.Bound()
	p.left = 0 // compounds do not straddle grids
	var addr []byte
	for rem := u.Households; rem > 0; {
		if p.left == 0 {
			p.left = 3 + r.IntN(10)
			p.road = p.roads[r.IntN(len(p.roads))]
			p.compoundNo = 1 + r.IntN(400)
			p.buildingNo = 0
			if r.Float64() < 0.2 {
				p.compound = stem(p.short) + []string{"小区", "新村", "花园"}[r.IntN(3)]
			} else {
				p.compound = compoundFirst[r.IntN(len(compoundFirst))] + compoundLast[r.IntN(len(compoundLast))]
			}
		}
		p.left--
		p.buildingNo++
		n := min(24+r.IntN(49), rem)
		if left := rem - n; left > 0 && left < 24 {
			// No stub building at the end of the grid.
			if rem <= 72 {
				n = rem
			} else {
				n = rem - 24
			}
		}
		rem -= n
		stairs := max(1+r.IntN(3), (n+35)/36)
		floors := (n + 2*stairs - 1) / (2 * stairs)
		addr = append(addr[:0], p.prefix...)
		addr = append(addr, p.road...)
		addr = strconv.AppendInt(addr, int64(p.compoundNo), 10)
		addr = append(addr, "号"...)
		addr = append(addr, p.compound...)
		addr = strconv.AppendInt(addr, int64(p.buildingNo), 10)
		addr = append(addr, "栋"...)
		b := g.addBuilding(p, u, bound, string(addr), floors)
		base := len(addr)
		for k := range n {
			stair, j := k/(2*floors)+1, k%(2*floors)
			room := (j/2+1)*100 + j%2 + 1
			addr = strconv.AppendInt(addr[:base], int64(stair), 10)
			addr = append(addr, "单元"...)
			addr = strconv.AppendInt(addr, int64(room), 10)
			addr = append(addr, "室"...)
			if err := g.household(p, u, b, string(addr)); err != nil {
				return err
			}
		}
	}
	return nil
}

// villageGrid fills a residential grid of a village with houses of 1-4
// households, numbered within the village's groups (村民小组).
func (g *generator) villageGrid(p *place, gi int) error {
	r := p.r
	u := &g.units[gi]
	bound := u.Polygon.Bound()
	var addr []byte
	for rem := u.Households; rem > 0; {
		if p.house >= p.groupSize {
			p.group++
			p.house = 0
			p.groupSize = 12 + r.IntN(30)
		}
		p.house++
		n := 1
		switch v := r.Float64(); {
		case v < 0.05:
			n = 4
		case v < 0.15:
			n = 3
		case v < 0.45:
			n = 2
		}
		n = min(n, rem)
		rem -= n
		addr = append(addr[:0], p.prefix...)
		addr = append(addr, p.short...)
		addr = strconv.AppendInt(addr, int64(p.group), 10)
		addr = append(addr, "组"...)
		addr = strconv.AppendInt(addr, int64(p.house), 10)
		addr = append(addr, "号"...)
		a := string(addr)
		b := g.addBuilding(p, u, bound, a, 1+r.IntN(3))
		for range n {
			if err := g.household(p, u, b, a); err != nil {
				return err
			}
		}
	}
	return nil
}

func (g *generator) addBuilding(p *place, u *grid.Unit, bound orb.Bound, addr string, floors int) int64 {
	lon, lat := pointIn(p.r, u.Polygon, bound)
	id := int64(len(g.city.Buildings) + 1)
	g.city.Buildings = append(g.city.Buildings, Building{
		ID: id, GridCode: u.Code, Address: addr, Lon: lon, Lat: lat, Floors: floors,
	})
	return id
}

// pointIn is a uniform point strictly inside poly, rounded to 1e-6 degrees
// (about 0.1 m), drawn from the bound shrunk a little so it never lies on an
// edge shared with a neighbouring grid.
func pointIn(r *rand.Rand, poly orb.Polygon, b orb.Bound) (float64, float64) {
	w, h := b.Max[0]-b.Min[0], b.Max[1]-b.Min[1]
	for range 1000 {
		pt := orb.Point{
			math.Round((b.Min[0]+(0.005+0.99*r.Float64())*w)*1e6) / 1e6,
			math.Round((b.Min[1]+(0.005+0.99*r.Float64())*h)*1e6) / 1e6,
		}
		if pt[0] > b.Min[0] && pt[0] < b.Max[0] && pt[1] > b.Min[1] && pt[1] < b.Max[1] && planar.PolygonContains(poly, pt) {
			return pt[0], pt[1]
		}
	}
	c := b.Center()
	return c[0], c[1]
}

// household draws one household and its members into the city.
func (g *generator) household(p *place, u *grid.Unit, building int64, addr string) error {
	r := p.r
	var buf [8]member
	ms := composeHousehold(r, buf[:0])
	hid := int64(len(g.city.Households) + 1)
	head := int64(len(g.city.Persons) + 1)
	eth := ethnicity(r)
	for _, m := range ms {
		bd := birthDate(r, m.year)
		idn, err := g.ids.issue(r, idAreaCode(r, p.district.Code, m.year), bd, m.male)
		if err != nil {
			return err
		}
		e := eth
		if m.rel == RelSpouse || m.rel == RelOther {
			e = ethnicity(r) // married in from another family
		}
		ph := ""
		if ageOn(bd) >= 12 {
			ph = phone(r)
		}
		gender := "F"
		if m.male {
			gender = "M"
		}
		g.city.Persons = append(g.city.Persons, Person{
			ID:          int64(len(g.city.Persons) + 1),
			IDNumber:    idn,
			Name:        fullName(r, m.surname, m.male, m.year),
			Gender:      gender,
			BirthDate:   bd,
			Ethnicity:   e,
			Phone:       ph,
			HouseholdID: hid,
			Relation:    m.rel,
			GridCode:    u.Code,
		})
	}
	g.city.Households = append(g.city.Households, Household{
		ID: hid, GridCode: u.Code, BuildingID: building, Address: addr, HeadID: head,
	})
	u.Residents += len(ms)
	return nil
}

// fullName is surname and given name in one allocation.
func fullName(r *rand.Rand, surname string, male bool, year int) string {
	e, s := era(year), 1
	if male {
		s = 0
	}
	pool := givenPools[e][s]
	var buf [24]byte
	b := append(buf[:0], surname...)
	b = append(b, pool[r.IntN(len(pool))]...)
	if r.Float64() >= singleCharShare[e] {
		b = append(b, pool[r.IntN(len(pool))]...)
	}
	return string(b)
}

// government adds the office of a township-level unit, placed in its first community.
func (g *generator) government(p *place, t grid.Division) error {
	if strings.Contains(t.Name, "直辖") {
		return nil // a statistical grouping, no office of its own
	}
	var name string
	switch tt, _ := grid.TownshipTypeOf(t.Code); tt {
	case grid.Town, grid.Xiang:
		name = p.district.Name + t.Name + "人民政府"
	case grid.DevZoneOffice:
		if strings.HasSuffix(t.Name, "街道") {
			name = p.district.Name + t.Name + "办事处"
		} else {
			name = t.Name + "管理委员会"
		}
	default:
		name = p.district.Name + t.Name + "办事处"
	}
	return g.addOrg(p, KindGovernment, "11", g.names.claim(name), -1, employees(p.r, 70, 25, 200))
}

// organizations adds a community's large organisations (in their unit grids) and
// its enterprises, shops and social organisations, at rates per household.
func (g *generator) organizations(p *place) error {
	r, c := p.r, p.c
	unit := 0
	for _, gi := range c.grids {
		if g.units[gi].Kind != grid.UnitGrid {
			continue
		}
		o := c.large[unit]
		unit++
		auth, emp := "91", 0
		switch o.kind {
		case KindSchool:
			auth, emp = "12", employees(r, 110, 40, 260)
		case KindHospital:
			auth, emp = "12", employees(r, 500, 150, 1800)
		case KindMarket:
			emp = employees(r, 60, 20, 200)
		default:
			emp = employees(r, 600, 200, 3500)
		}
		if err := g.addOrg(p, o.kind, auth, o.name, gi, emp); err != nil {
			return err
		}
	}
	h := float64(c.households)
	var shopRate, entRate, coopRate, socialRate, fixedEnt float64
	switch c.kind {
	case urban:
		shopRate, entRate, socialRate = 1.0/30, 1.0/80, 1.0/800
	case village:
		shopRate, entRate, coopRate, socialRate = 1.0/70, 1.0/180, 1.0/400, 1.0/2000
	case industrial:
		shopRate, entRate, socialRate, fixedEnt = 1.0/40, 1.0/15, 1.0/2000, 3
	case virtual:
		shopRate, entRate, fixedEnt = 1.0/40, 1.0/10, 2
	}
	count := func(x float64) int {
		x *= 0.7 + 0.6*r.Float64()
		n := int(x)
		if r.Float64() < x-float64(n) {
			n++
		}
		return n
	}
	district := p.district.Name
	st := stem(p.short)
	for range count(h*entRate + fixedEnt*g.scale) {
		name := g.names.claim(companyName(r, industries[r.IntN(len(industries))]), companyName(r, industries[r.IntN(len(industries))]))
		if err := g.addOrg(p, KindEnterprise, "91", name, -1, employees(r, 12, 2, 400)); err != nil {
			return err
		}
	}
	for range count(h * coopRate) {
		crop := []string{"水稻种植", "蔬菜种植", "水产养殖", "生姜种植", "茶叶", "家禽养殖", "苗木", "农机服务"}[r.IntN(8)]
		name := g.names.claim(g.cityName+district+p.short+crop+"专业合作社", g.cityName+district+st+tradeName(r)+crop+"专业合作社")
		if err := g.addOrg(p, KindEnterprise, "93", name, -1, employees(r, 8, 5, 60)); err != nil {
			return err
		}
	}
	for range count(h * shopRate) {
		typ := shopTypes[r.IntN(len(shopTypes))]
		sur := surnames.pick(r)
		name := g.names.claim(district+sur+"记"+typ, district+tradeName(r)+typ, district+st+tradeName(r)+typ)
		if err := g.addOrg(p, KindShop, "92", name, -1, employees(r, 2, 1, 8)); err != nil {
			return err
		}
	}
	for range count(h * socialRate) {
		auth, name := "52", ""
		if r.Float64() < 0.4 {
			auth = "51"
			name = g.names.claim(district+associations[r.IntN(len(associations))], district+st+associations[r.IntN(len(associations))])
		} else {
			np := nonProfits[r.IntN(len(nonProfits))]
			name = g.names.claim(district+st+np, district+tradeName(r)+np)
		}
		if err := g.addOrg(p, KindSocialOrg, auth, name, -1, employees(r, 8, 2, 60)); err != nil {
			return err
		}
	}
	return nil
}

// addOrg places an organisation in grid gi, or in a random residential grid of
// the community when gi < 0.
func (g *generator) addOrg(p *place, kind, auth, name string, gi, emp int) error {
	r := p.r
	if gi < 0 {
		var res []int
		for _, i := range p.c.grids {
			if g.units[i].Kind == grid.Residential {
				res = append(res, i)
			}
		}
		gi = res[r.IntN(len(res))]
	}
	u := &g.units[gi]
	code, err := creditCode(r, auth, p.district.Code)
	if err != nil {
		return err
	}
	lon, lat := pointIn(r, u.Polygon, u.Polygon.Bound())
	var addr []byte
	addr = append(addr, p.prefix...)
	if p.c.kind == village {
		addr = append(addr, p.short...)
		addr = strconv.AppendInt(addr, int64(1+r.IntN(max(p.group, 1))), 10)
		addr = append(addr, "组"...)
	} else {
		addr = append(addr, p.roads[r.IntN(len(p.roads))]...)
		addr = strconv.AppendInt(addr, int64(1+r.IntN(600)), 10)
		addr = append(addr, "号"...)
	}
	g.city.Organizations = append(g.city.Organizations, Organization{
		ID:         int64(len(g.city.Organizations) + 1),
		CreditCode: code,
		Name:       name,
		Kind:       kind,
		GridCode:   u.Code,
		Address:    string(addr),
		Lon:        lon,
		Lat:        lat,
		Employees:  emp,
		LegalRep:   fullName(r, surnames.pick(r), r.Float64() < 0.7, 1955+r.IntN(45)),
	})
	return nil
}
