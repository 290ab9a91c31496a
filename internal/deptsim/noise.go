package deptsim

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// homophoneGroups are characters that share a pinyin syllable (tones aside),
// the ones an input method offers side by side: the typos clerks make when
// they type a name they heard. They cover the generator's surnames and
// given-name characters.
var homophoneGroups = strings.Fields(`
王汪 张章 刘留 陈辰晨臣沉 杨阳扬洋 黄皇凰 吴武伍 周舟州 徐许 朱珠诸 胡湖 郭国 何和禾贺 林琳霖麟
罗萝 郑正政 梁良 宋颂 唐汤 韩寒涵含 冯逢 邓登 曹槽 彭鹏蓬朋 曾增 肖萧 田甜 董东冬懂 袁元原园媛
潘攀 于余俞鱼宇雨羽语禹玉钰毓煜昱 蒋江姜 蔡菜 杜度 叶业 程成诚承 苏酥 魏卫韦蔚伟玮炜 吕侣 丁钉
任仁 沈审 姚尧瑶遥 卢芦 钟忠中 谭檀 陆路鹿露璐 范凡 金今津 石时 贾甲 夏霞 付傅符富 方芳 熊雄
秦琴勤芹 薛雪 闫严颜妍 段断 雷蕾磊 侯候 龙隆 史使 陶桃涛 黎李理 顾谷 毛茅 龚宫 邵绍 钱前
戴代 储楚 桂贵 建健剑 德得 福扶 有友 明铭鸣 华桦 文雯 志智 荣蓉容 春椿 军君俊峻骏 民珉 生升声
庆磬 祥翔 山珊 宝保 义毅艺逸奕亿 树述 松嵩 秀绣 英瑛莺 兰岚 珍真贞 凤奉 梅玫 淑舒书 云芸 萍平苹
菊局 香湘 莲联 月悦越 素肃 彩采 娥峨 银寅 玲铃灵 秋丘 强蔷 勇永 斌彬滨 刚钢 峰锋丰枫 杰洁捷
辉晖 红宏虹鸿 兵冰 新欣鑫馨 胜盛 利力丽立莉 娟鹃 燕艳 静婧靖 慧惠 颖影 丹单 浩皓昊 超 凯楷 博柏
飞菲 健 威薇 婷亭 倩茜 琪琦淇 佳嘉家 晶菁京 娜纳 轩萱宣 睿瑞锐 泽择 沐慕牧 豪毫 航杭 一依伊
锦瑾 宁凝 怡宜仪 诗施 彤桐 汐溪曦 思丝 梦孟 雅亚 晴情 诺`)

// homophones maps a character to the others of its group.
var homophones = func() map[rune][]rune {
	m := map[rune][]rune{}
	for _, g := range homophoneGroups {
		rs := []rune(g)
		for _, r := range rs {
			for _, o := range rs {
				if o != r && !containsRune(m[r], o) {
					m[r] = append(m[r], o)
				}
			}
		}
	}
	return m
}()

func containsRune(rs []rune, r rune) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// typo replaces one character of name with a homophone, preferring the given
// name; ok is false when no character has one.
func typo(r *rand.Rand, name string) (string, bool) {
	rs := []rune(name)
	var given, surname []int
	for i, c := range rs {
		if len(homophones[c]) == 0 {
			continue
		}
		if i == 0 {
			surname = append(surname, i)
		} else {
			given = append(given, i)
		}
	}
	cands := given
	if len(cands) == 0 || (len(surname) > 0 && r.Float64() < 0.2) {
		cands = surname
	}
	if len(cands) == 0 {
		return name, false
	}
	i := cands[r.IntN(len(cands))]
	alts := homophones[rs[i]]
	rs[i] = alts[r.IntN(len(alts))]
	return string(rs), true
}

// noiseRates are one department's data-quality habits, per person it holds.
type noiseRates struct {
	typo       float64 // name typed with a 同音字
	stale      float64 // an old address
	missing    float64 // no ID number
	wrongCheck float64 // a mistyped ID number
	old15      float64 // the 15-digit first-generation number (people born before 1985)
	lowerX     float64 // share of the IDs ending in X written with a lower-case x
	dup        float64 // rows written twice
}

var rates = map[string]noiseRates{
	CivilAffairs:    {typo: 0.010, stale: 0.04, missing: 0.002, wrongCheck: 0.003, old15: 0.004, lowerX: 0.30, dup: 0.005},
	Health:          {typo: 0.015, stale: 0.06, missing: 0.003, wrongCheck: 0.003, old15: 0.002, lowerX: 0.20, dup: 0.010},
	Employment:      {typo: 0.005, stale: 0.03, missing: 0.001, wrongCheck: 0.002, lowerX: 0.05, dup: 0.003},
	SocialSecurity:  {typo: 0.003, wrongCheck: 0.001, dup: 0.002},
	UrbanManagement: {typo: 0.030, missing: 0.010, wrongCheck: 0.005, lowerX: 0.10},
	PartyBuilding:   {typo: 0.010, stale: 0.05, missing: 0.004, wrongCheck: 0.004, old15: 0.005, lowerX: 0.40, dup: 0.010},
}

// noiser writes a department's identities: a person's noise is drawn from a
// stream seeded by the department and the person, so every row the
// department holds about the person carries the same errors, whatever order
// rows are made in.
type noiser struct {
	w     *world
	dept  string
	rates noiseRates
	salt  uint64
	truth *Truth
}

func (w *world) noiser(dept string) *noiser {
	return &noiser{w: w, dept: dept, rates: rates[dept], salt: hashString(dept + "/noise"), truth: w.truth}
}

// ident is person i as the department writes them in row of set, with the
// noise recorded in the truth.
func (n *noiser) ident(set string, row int64, i int32) Ident {
	p := &n.w.city.Persons[i]
	id := Ident{
		PersonID:  p.ID,
		IDNumber:  p.IDNumber,
		Name:      p.Name,
		Gender:    p.Gender,
		BirthDate: p.BirthDate,
		Address:   n.w.address(i),
		Phone:     p.Phone,
	}
	if n.w.showcase[i] {
		return id // the showcase residents are written clean everywhere
	}
	r := rand.New(rand.NewPCG(uint64(n.w.seed)^n.salt, uint64(p.ID)))
	rt := n.rates
	add := func(kind, field, src, truth string) {
		n.truth.Noise = append(n.truth.Noise, Noise{Dept: n.dept, Set: set, Row: row, PersonID: p.ID, Kind: kind, Field: field, Source: src, True: truth})
	}
	// Draw every decision, used or not, so one rate does not shift the others.
	uTypo, uStale, uID, uX := r.Float64(), r.Float64(), r.Float64(), r.Float64()
	if uTypo < rt.typo {
		if s, ok := typo(r, id.Name); ok {
			add(NoiseNameTypo, "name", s, id.Name)
			id.Name = s
		}
	}
	if uStale < rt.stale && id.Address != "" {
		old := n.w.address(int32(r.IntN(len(n.w.city.Persons))))
		if old != id.Address {
			add(NoiseStaleAddress, "address", old, id.Address)
			id.Address = old
		}
	}
	switch {
	case uID < rt.missing:
		add(NoiseIDMissing, "idNumber", "", id.IDNumber)
		id.IDNumber = ""
	case uID < rt.missing+rt.wrongCheck:
		s := mistype(r, id.IDNumber)
		add(NoiseIDWrongCheck, "idNumber", s, id.IDNumber)
		id.IDNumber = s
	case uID < rt.missing+rt.wrongCheck+rt.old15 && p.BirthDate.Year() < 1985:
		s := id.IDNumber[:6] + id.IDNumber[8:17]
		add(NoiseID15, "idNumber", s, id.IDNumber)
		id.IDNumber = s
	case id.IDNumber[17] == 'X' && uX < rt.lowerX:
		s := id.IDNumber[:17] + "x"
		add(NoiseIDLowerX, "idNumber", s, id.IDNumber)
		id.IDNumber = s
	}
	return id
}

// mistype is an 18-character ID number that fails its check: a sequence
// digit mistyped (any single-digit change breaks ISO 7064 MOD 11-2) or a
// wrong check character.
func mistype(r *rand.Rand, s string) string {
	b := []byte(s)
	if r.IntN(2) == 0 {
		i := 14 + r.IntN(3)
		b[i] = byte('0' + (int(b[i]-'0')+1+r.IntN(9))%10)
		return string(b)
	}
	const checks = "0123456789X"
	for {
		c := checks[r.IntN(len(checks))]
		if c != b[17] {
			b[17] = c
			return string(b)
		}
	}
}

// addDuplicates appends a second copy of a few rows, as a department that
// imported an old system twice has: the copy gets the next row id and an older
// update time (the original stays the newest), and the truth names its original.
// meta exposes a row's id, person and update time.
func addDuplicates[T any](n *noiser, set string, rows []T, seq *int64, meta func(*T) (row *int64, person int64, updated *time.Time)) []T {
	if n.rates.dup == 0 {
		return rows
	}
	r := rand.New(rand.NewPCG(uint64(n.w.seed)^n.salt, hashString(set)))
	for i, count := 0, len(rows); i < count; i++ {
		if r.Float64() >= n.rates.dup {
			continue
		}
		cp := rows[i]
		row, pid, upd := meta(&cp)
		if n.w.showcasePID[pid] {
			continue
		}
		orig := *row
		*seq++
		*row = *seq
		*upd = upd.Add(-time.Duration(1+r.IntN(400*24)) * time.Hour)
		rows = append(rows, cp)
		n.truth.Noise = append(n.truth.Noise, Noise{Dept: n.dept, Set: set, Row: *row, PersonID: pid, Kind: NoiseDuplicate, Field: "row", Source: strconv.FormatInt(orig, 10)})
	}
	return rows
}

// hashString is FNV-1a, for seeding streams by name.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
