package linkage

import (
	"strings"
	"sync"
	"unicode"

	"github.com/mozillazg/go-pinyin"
)

// Name agreement levels, from strongest to none.
const (
	Exact     = "EXACT"     // the same characters
	Phonetic  = "PHONETIC"  // the same pinyin, tones aside: 同音字
	Shape     = "SHAPE"     // one character swapped for a look-alike: 形近字
	Different = "DIFFERENT" // disagrees
	Missing   = "MISSING"   // one side does not say
)

// pinyinArgs reads each character's most common reading, without tones.
var pinyinArgs = func() pinyin.Args {
	a := pinyin.NewArgs()
	a.Style = pinyin.Normal
	a.Fallback = func(r rune, _ pinyin.Args) []string { return []string{string(r)} }
	return a
}()

// PinyinKey is a name's sound: its characters' pinyin without tones, joined by
// spaces ("王小明" and "汪小明" are both "wang xiao ming"). It is the block a
// name with a 同音字 typo is still found in.
func PinyinKey(name string) string {
	name = cleanName(name)
	if name == "" {
		return ""
	}
	var b strings.Builder
	for _, r := range name {
		py := runePinyin(r)
		if py == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(py)
	}
	return b.String()
}

// readings caches each character's reading: go-pinyin reads a name one
// character at a time, through a regular expression per character, and the
// master index of a city has a million names made of a few thousand
// characters (loading it spent 4 s there).
var readings sync.Map // rune -> string

// runePinyin is r's reading by pinyinArgs, "" for none.
func runePinyin(r rune) string {
	if v, ok := readings.Load(r); ok {
		return v.(string)
	}
	py := strings.Join(pinyin.LazyPinyin(string(r), pinyinArgs), " ")
	readings.Store(r, py)
	return py
}

// cleanName drops blanks and the middle dot some clerks type.
func cleanName(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '·' || r == '•' {
			return -1
		}
		return r
	}, s)
}

// shapeGroups are characters that look alike (形近字): the misreadings of a
// handwritten form that a clerk types. Each group is one line of look-alikes.
var shapeGroups = strings.Fields(`
己已巳 未末 土士 王玉主 日曰 人入八 大太犬 千干于 天夫 刀力 田由甲申 戊戌戍 贝见 鸟乌 壁璧 汩汨
斌赋 晴睛 清请情 崇祟 拔拨 侯候 栋冻 浩皓 琳淋 淑椒 微徽 娟绢 婷停 梅海 艳丰 辉挥 岚风 萍苹
丽郦 兰岚 春椿 泽择 锋峰 杨扬 张涨 陈阵 刘浏 赵越 李季 林材 何河 徐途 郭廓 宋末 谢榭 韩翰 冯驯
`)

// shapeOf maps a character to its look-alikes.
var shapeOf = func() map[rune]string {
	m := map[rune]string{}
	for _, g := range shapeGroups {
		for _, r := range g {
			m[r] += g
		}
	}
	return m
}()

// CompareNames says how a department's name agrees with the master index's.
func CompareNames(dept, master string) string {
	a, b := cleanName(dept), cleanName(master)
	switch {
	case a == "" || b == "":
		return Missing
	case a == b:
		return Exact
	}
	ra, rb := []rune(a), []rune(b)
	if len(ra) != len(rb) {
		return Different
	}
	if PinyinKey(a) == PinyinKey(b) {
		return Phonetic
	}
	diff := -1
	for i := range ra {
		if ra[i] != rb[i] {
			if diff >= 0 {
				return Different
			}
			diff = i
		}
	}
	if strings.ContainsRune(shapeOf[ra[diff]], rb[diff]) {
		return Shape
	}
	return Different
}

// AgreeName is the name agreement a corrected ID number needs: the same
// name, one written with a 同音字, or one with a look-alike character.
func AgreeName(dept, master string) bool {
	switch CompareNames(dept, master) {
	case Exact, Phonetic, Shape:
		return true
	}
	return false
}
