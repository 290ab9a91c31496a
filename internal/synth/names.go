package synth

import (
	"math/rand/v2"
	"strings"
)

// weighted picks strings with given weights by binary search over the cumulative sums.
type weighted struct {
	items []string
	cum   []float64
}

func newWeighted(items []string, weights []float64) *weighted {
	w := &weighted{items: items, cum: make([]float64, len(weights))}
	sum := 0.0
	for i, x := range weights {
		sum += x
		w.cum[i] = sum
	}
	return w
}

func (w *weighted) pick(r *rand.Rand) string {
	return w.items[searchCum(w.cum, r.Float64()*w.cum[len(w.cum)-1])]
}

// searchCum is the first index whose cumulative weight exceeds u.
func searchCum(cum []float64, u float64) int {
	lo, hi := 0, len(cum)-1
	for lo < hi {
		m := (lo + hi) / 2
		if cum[m] > u {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// surnames: frequencies in per mille of the national population (2020 household
// register), with the Anhui-typical 汪, 程, 章, 檀, 疏 and 査 given local weight.
var surnames = func() *weighted {
	const table = `王72 李72 张68 刘54 陈45 杨31 黄22 赵20 吴22 周19 徐16 孙15 马15 朱15 胡15 郭12 何11
林11 高11 罗10 郑9 梁9 谢8 宋8 唐8 许8 韩7 冯7 邓7 曹7 彭7 曾6 肖6 田6 董6 袁6 潘6 于5 蒋5
蔡5 余6 杜5 叶6 程7 苏4 魏4 吕4 丁5 任4 沈4 姚5 卢4 姜4 崔3 钟3 谭3 陆4 汪8 范3 金3 石3 廖3
贾3 夏4 韦2 付3 方6 白2 邹2 孟2 熊2 秦2 邱2 江4 尹2 薛2 闫2 段2 雷2 侯2 龙2 史2 陶3 黎1 贺2
顾2 毛2 郝2 龚2 邵2 万2 钱3 严2 章4 武2 戴3 檀2 疏2 左2 査1 储2 桂1 佘1 鲍1`
	var items []string
	var weights []float64
	for _, f := range strings.Fields(table) {
		i := strings.IndexFunc(f, func(r rune) bool { return r >= '0' && r <= '9' })
		items = append(items, f[:i])
		n := 0.0
		for _, c := range f[i:] {
			n = n*10 + float64(c-'0')
		}
		weights = append(weights, n)
	}
	return newWeighted(items, weights)
}()

// givenPools are the characters of given names by sex and birth era: naming
// fashions changed from 国/秀英 to 伟/丽 to 浩/婷 to 梓/涵 over the decades.
var givenPools = func() [4][2][]string {
	raw := [4][2]string{
		{"国建德福有明华文志富贵荣发春林军忠民海生庆祥金山成根长宝义仁礼树茂松学正本", "秀英兰芳桂珍凤玉梅琴花淑翠霞云萍菊香莲月素彩娥荷银爱玲美秋"},
		{"伟强军勇斌刚磊涛峰波杰辉平建华明东红卫国兵林新亮胜利忠宏志俊勤松庆", "丽娟红霞燕敏静艳萍玲芳琳莉洁华英梅慧秀琴颖丹凤云平红霞春"},
		{"浩宇鹏磊超杰俊晨凯阳博鑫帅翔伟涛亮飞健斌龙波辉旭东文峰强威毅森", "婷雪倩琪雨佳欣悦颖媛璐丹晶静敏娜莉琳慧艳燕蕾洁瑶薇露蓉"},
		{"子梓轩浩宇睿泽铭辰逸沐俊豪航宸皓博然一诚瑞奕昊晨阳锦煜嘉安宁", "梓涵欣怡诗雨可馨语彤一若汐萱依琪佳思梦雅妍芯乐紫宁晴悦桐诺"},
	}
	var out [4][2][]string
	for e := range raw {
		for s := range raw[e] {
			for _, c := range raw[e][s] {
				out[e][s] = append(out[e][s], string(c))
			}
		}
	}
	return out
}()

// singleCharShare is the share of one-character given names per era.
var singleCharShare = [4]float64{0.22, 0.35, 0.30, 0.12}

func era(year int) int {
	switch {
	case year < 1960:
		return 0
	case year < 1980:
		return 1
	case year < 2000:
		return 2
	}
	return 3
}

// givenName is a one- or two-character given name in the fashion of the birth year.
func givenName(r *rand.Rand, male bool, year int) string {
	e, s := era(year), 1
	if male {
		s = 0
	}
	pool := givenPools[e][s]
	a := pool[r.IntN(len(pool))]
	if r.Float64() < singleCharShare[e] {
		return a
	}
	return a + pool[r.IntN(len(pool))]
}

// ethnicities other than 汉族 that occur in Anhui, weighted.
var minorities = newWeighted(
	[]string{"回族", "满族", "壮族", "土家族", "苗族", "蒙古族", "畲族"},
	[]float64{50, 14, 9, 9, 8, 6, 4},
)

func ethnicity(r *rand.Rand) string {
	if r.Float64() < 0.99 {
		return "汉族"
	}
	return minorities.pick(r)
}

// mobilePrefixes are real mainland mobile number blocks (移动, 联通, 电信, 广电).
var mobilePrefixes = strings.Fields(`130 131 132 133 134 135 136 137 138 139 150 151 152 153 155
156 157 158 159 173 176 177 178 180 181 182 183 184 185 186 187 188 189 191 193 195 198 199`)

func phone(r *rand.Rand) string {
	var b [11]byte
	copy(b[:], mobilePrefixes[r.IntN(len(mobilePrefixes))])
	n := r.Uint64N(100_000_000)
	for i := 10; i >= 3; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[:])
}

// tonglingRoads are road names of 铜陵's centre, used by 铜官区's urban communities.
var tonglingRoads = strings.Fields(`长江西路 长江中路 长江东路 义安大道 淮河路 石城路 北京西路 北京东路
人民路 铜官大道 翠湖一路 翠湖二路 翠湖三路 翠湖四路 翠湖五路 天井湖路 笠帽山路 北斗星路 湖城大道
建设路 解放路 新民路 金山路 狮子山路 螺蛳山路 五松路 幸福路 官塘路 鹞山路 滨江大道 铜陵大道
阳光大道 学苑路 友好路 金口岭路 朝阳路 立新路 露采路 映湖路 黄山大道 西湖路 栖凤路 乌木山路`)

// townRoads are the generic street names of county towns and outer districts.
var townRoads = strings.Fields(`建设路 人民路 解放路 中心街 新华路 幸福路 和平路 文化路 工业路 滨江路
长安路 向阳路 振兴路 迎宾大道 朝阳路 胜利路 育才路 老街 府前路 团结路 新河路 东风路`)

// compoundFirst and compoundLast make the names of residential compounds (小区).
var (
	compoundFirst = strings.Fields(`翠湖 天井湖 五松 金山 铜官 幸福 阳光 长江 滨江 湖畔 碧水 金色 紫金 东方
锦绣 盛世 学府 世纪 新城 丽景 御景 绿洲 铜都 西湖 凤凰 映湖 朝阳 馨园 华源 康乐 龙湖 桂花 枫林
聚福 怡景 江南 书香 金域 和谐 江城 皖江 东湖`)
	compoundLast = strings.Fields(`花园 小区 新村 家园 苑 公寓 嘉园 华府 名都 新城 雅居 佳苑 山庄 城 湾`)
)

// Parts of organisation names.
var (
	tradeFirst  = []rune("鑫华恒金瑞宏天顺永新博诚安众盛江皖凯嘉和兴聚德丰佳振宝通中铜长九汇鼎祥荣富润昌")
	tradeSecond = []rune("源泰达鼎丰远成发盛锐信创世冠城瑞禾顺业润泽和华利通辉宇邦越景晟达隆")
	industries  = strings.Fields(`商贸 建材 科技 物流 机械 电子 餐饮管理 物业管理 建筑工程 铜材 装饰工程
信息技术 文化传媒 环保科技 汽车服务 医药 农业发展 劳务 新材料 电气 化工 家政服务 广告 印务 门窗 钢结构
电子商务 酒店管理 旅游开发 贸易 塑业 精密制造`)
	heavyIndustries = strings.Fields(`铜业 化工 新材料 电子材料 冶炼 机械制造 精密铜材 矿业 电缆 汽车零部件`)
	shopTypes       = strings.Fields(`便利店 超市 面馆 小吃店 理发店 五金店 水果店 烟酒店 服装店 早餐店 药房
家电维修部 手机店 烧烤店 快餐店 副食店 茶叶店 汽车修理部 干洗店 棋牌室 美容店 文具店 粮油店 蔬菜店
母婴店 眼镜店 鞋店 花店 肉铺 卤菜店`)
	associations = strings.Fields(`书法家协会 摄影家协会 老年体育协会 钓鱼协会 个体劳动者协会 餐饮行业协会
志愿者协会 太极拳协会 象棋协会 舞蹈协会 收藏家协会 楹联学会 诗词学会 篮球协会 乒乓球协会 登山协会
羽毛球协会 跆拳道协会 企业家协会 物业管理协会`)
	nonProfits = strings.Fields(`幼儿园 养老服务中心 社会工作服务中心 培训学校 居家养老服务站 志愿服务中心
托育中心 青少年活动中心 调解服务中心`)
	hospitalNames = strings.Fields(`人民医院 中医医院 妇幼保健院 第二人民医院 第三人民医院 骨科医院 口腔医院`)
)
