package linkage

import (
	"strings"
	"testing"

	"github.com/mozillazg/go-pinyin"
)

// TestPinyinKeyReadsWholeNames: the key built character by character is the
// reading of the whole name, for names of Han characters, a middle dot,
// Latin letters, digits and characters without a reading.
func TestPinyinKeyReadsWholeNames(t *testing.T) {
	for _, name := range []string{"王小明", "汪小明", "阿依古丽·买买提", "李A明", "张三2", "〇一", "𠮷野家", "欧阳 娜娜", "  ", "乐乐", "曾重", "Anna", "单于"} {
		want := strings.Join(pinyin.LazyPinyin(cleanName(name), pinyinArgs), " ")
		if got := PinyinKey(name); got != want {
			t.Errorf("PinyinKey(%q) = %q, the whole name reads %q", name, got, want)
		}
	}
}
