package synth

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/gridhub/gridhub/internal/ident"
)

// Organisation kinds, as Organization.Kind spells them.
const (
	KindSchool     = "school"
	KindHospital   = "hospital"
	KindMarket     = "market"
	KindEnterprise = "enterprise"
	KindShop       = "shop"
	KindSocialOrg  = "social_org"
	KindGovernment = "government"
)

// creditCharset is the GB 32100-2015 character set (no I, O, S, V, Z).
const creditCharset = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// badCheckShare is the share of credit codes whose overall check character is
// wrong, as some early codes were: a warning for the hub, not an error.
const badCheckShare = 0.01

// creditCode is a unified social credit code: registration authority and type
// (91 company, 92 个体工商户, 93 cooperative, 51/52 social organisations, 12 public
// institution, 11 government body), the district code, a 9-character organisation
// code with a valid GB 11714 check, and the overall check. Bodies of market
// entities registered since the 2015 reform begin with MA; older ones are digits.
func creditCode(r *rand.Rand, authType, district string) (string, error) {
	var b [18]byte
	copy(b[:2], authType)
	copy(b[2:8], district)
	body := b[8:16]
	modern := (authType[0] == '9' && r.Float64() < 0.7)
	switch {
	case modern:
		body[0], body[1] = 'M', 'A'
		for i := 2; i < 8; i++ {
			body[i] = creditCharset[r.IntN(len(creditCharset))]
		}
	default:
		lead := byte('0' + r.IntN(10))
		switch authType {
		case "11":
			lead = '0' // 机关 codes of the old system start 0
		case "12":
			lead = '4' // 事业单位 4xxxxxxx
		case "51", "52":
			lead = '5'
		}
		body[0] = lead
		for i := 1; i < 8; i++ {
			body[i] = byte('0' + r.IntN(10))
		}
	}
	oc, err := ident.OrgCodeCheckChar(string(body))
	if err != nil {
		return "", err
	}
	b[16] = oc
	check, err := ident.CreditCodeCheckChar(string(b[:17]))
	if err != nil {
		return "", err
	}
	b[17] = check
	if r.Float64() < badCheckShare {
		for b[17] == check {
			b[17] = creditCharset[r.IntN(len(creditCharset))]
		}
	}
	return string(b[:]), nil
}

// names keeps organisation names unique across the city, as registration requires.
type names map[string]bool

// claim returns the first of the candidates not taken, made unique with a
// numbered branch suffix when all are.
func (n names) claim(candidates ...string) string {
	for _, c := range candidates {
		if !n[c] {
			n[c] = true
			return c
		}
	}
	base := candidates[0]
	for i := 2; ; i++ {
		c := base + "(" + strconv.Itoa(i) + ")"
		if !n[c] {
			n[c] = true
			return c
		}
	}
}

func tradeName(r *rand.Rand) string {
	return string(tradeFirst[r.IntN(len(tradeFirst))]) + string(tradeSecond[r.IntN(len(tradeSecond))])
}

func companyName(r *rand.Rand, industry string) string {
	var sb strings.Builder
	sb.WriteString("铜陵")
	if r.Float64() < 0.5 {
		sb.WriteString("市")
	}
	sb.WriteString(tradeName(r))
	sb.WriteString(industry)
	switch u := r.Float64(); {
	case u < 0.85:
		sb.WriteString("有限公司")
	case u < 0.95:
		sb.WriteString("有限责任公司")
	default:
		sb.WriteString("股份有限公司")
	}
	return sb.String()
}

// stem is a community's short name without 社区/村, for names of places in it
// (开源社区 -> 开源, as in 开源小学).
func stem(short string) string {
	for _, s := range []string{"社区", "村"} {
		if b, ok := strings.CutSuffix(short, s); ok && b != "" {
			return b
		}
	}
	return short
}

// employees draws a head count: roughly log-normal around median, within [lo, hi].
func employees(r *rand.Rand, median float64, lo, hi int) int {
	return clampInt(int(math.Round(median*math.Exp(0.8*r.NormFloat64()))), lo, hi)
}
