package deptsim

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// ErrAlreadyLoaded is returned by LoadSQL when the database already holds the
// department's tables: a dev data dir started a second time.
var ErrAlreadyLoaded = errors.New("deptsim: the department's tables already exist")

// table is one legacy table: its DDL, columns, and rows.
type table struct {
	name string
	cols []string
	n    int
	row  func(i int) []any
}

// civilAffairsDDL is 民政's legacy schema: pinyin column names, DATE columns,
// single-character codes with dictionary tables (zd_*), numeric amounts.
const civilAffairsDDL = `
CREATE TABLE zd_cjlb (dm char(1) PRIMARY KEY, mc varchar(20) NOT NULL);
COMMENT ON TABLE zd_cjlb IS '字典: 残疾类别';
CREATE TABLE zd_bzzt (dm char(1) PRIMARY KEY, mc varchar(20) NOT NULL);
COMMENT ON TABLE zd_bzzt IS '字典: 低保保障状态';
CREATE TABLE zd_gyfs (dm char(1) PRIMARY KEY, mc varchar(20) NOT NULL);
COMMENT ON TABLE zd_gyfs IS '字典: 特困供养方式';
CREATE TABLE zd_btdc (dm char(1) PRIMARY KEY, mc varchar(20) NOT NULL);
COMMENT ON TABLE zd_btdc IS '字典: 高龄补贴档次';

CREATE TABLE mz_jmxx (
  ryid bigint PRIMARY KEY,
  sfzh varchar(18),
  xm   varchar(50) NOT NULL,
  xb   char(1),
  csrq date,
  hjdz varchar(200),
  lxdh varchar(20),
  swbz char(1) NOT NULL DEFAULT '0',
  swrq date,
  gxsj timestamp NOT NULL
);
COMMENT ON TABLE mz_jmxx IS '民政服务对象基本信息 (含殡葬死亡登记)';
COMMENT ON COLUMN mz_jmxx.xb IS '性别 GB/T 2261.1: 1 男 2 女';
COMMENT ON COLUMN mz_jmxx.swbz IS '死亡标志: 0 否 1 是';
COMMENT ON COLUMN mz_jmxx.swrq IS '死亡日期';

CREATE TABLE mz_dbjz (
  id   bigint PRIMARY KEY,
  sfzh varchar(18),
  xm   varchar(50) NOT NULL,
  hh   varchar(20) NOT NULL,
  jzje numeric(10,2) NOT NULL,
  jzrs smallint NOT NULL,
  kssj date NOT NULL,
  jssj date,
  zt   char(1) NOT NULL REFERENCES zd_bzzt (dm),
  gxsj timestamp NOT NULL
);
COMMENT ON TABLE mz_dbjz IS '最低生活保障 (低保) 保障对象, 每个保障成员一行';
COMMENT ON COLUMN mz_dbjz.hh IS '低保户号';
COMMENT ON COLUMN mz_dbjz.jzje IS '户月保障金额 (元)';
COMMENT ON COLUMN mz_dbjz.jzrs IS '保障人数';
COMMENT ON COLUMN mz_dbjz.kssj IS '保障开始时间';
COMMENT ON COLUMN mz_dbjz.jssj IS '保障结束时间 (在保为本期复核日期)';

CREATE TABLE mz_tkry (
  id   bigint PRIMARY KEY,
  sfzh varchar(18),
  xm   varchar(50) NOT NULL,
  cxlb char(1) NOT NULL,
  gyfs char(1) NOT NULL REFERENCES zd_gyfs (dm),
  kssj date NOT NULL,
  zt   char(1) NOT NULL,
  gxsj timestamp NOT NULL
);
COMMENT ON TABLE mz_tkry IS '特困人员救助供养';
COMMENT ON COLUMN mz_tkry.cxlb IS '城乡类别: 1 城市 2 农村';
COMMENT ON COLUMN mz_tkry.zt IS '状态: 1 在册 2 终止';

CREATE TABLE mz_glbt (
  id   bigint PRIMARY KEY,
  sfzh varchar(18),
  xm   varchar(50) NOT NULL,
  btdc char(1) NOT NULL REFERENCES zd_btdc (dm),
  ffje numeric(8,2) NOT NULL,
  kssj date NOT NULL,
  ffzt char(1) NOT NULL,
  gxsj timestamp NOT NULL
);
COMMENT ON TABLE mz_glbt IS '高龄津贴发放';
COMMENT ON COLUMN mz_glbt.ffje IS '月发放金额 (元)';
COMMENT ON COLUMN mz_glbt.ffzt IS '发放状态: 1 正常 2 停发';

CREATE TABLE mz_cjr (
  id   bigint PRIMARY KEY,
  sfzh varchar(18),
  xm   varchar(50) NOT NULL,
  cjzh varchar(22) NOT NULL,
  cjlb char(1) NOT NULL REFERENCES zd_cjlb (dm),
  cjdj smallint NOT NULL,
  fzrq date NOT NULL,
  gxsj timestamp NOT NULL
);
COMMENT ON TABLE mz_cjr IS '持证残疾人';
COMMENT ON COLUMN mz_cjr.cjzh IS '残疾人证号 (身份证号+类别+等级)';
COMMENT ON COLUMN mz_cjr.cjdj IS '残疾等级 1-4 (一级最重)';
`

// civilAffairsIndexes are created after the load: the mapping queries look
// rows up by upper(trim(sfzh)), legacy rows having a lower-case x.
const civilAffairsIndexes = `
CREATE INDEX mz_jmxx_sfzh ON mz_jmxx (upper(trim(sfzh)));
CREATE INDEX mz_dbjz_sfzh ON mz_dbjz (upper(trim(sfzh)));
CREATE INDEX mz_tkry_sfzh ON mz_tkry (upper(trim(sfzh)));
CREATE INDEX mz_glbt_sfzh ON mz_glbt (upper(trim(sfzh)));
CREATE INDEX mz_cjr_sfzh ON mz_cjr (upper(trim(sfzh)));
CREATE INDEX mz_jmxx_gxsj ON mz_jmxx (gxsj, ryid);
CREATE INDEX mz_dbjz_gxsj ON mz_dbjz (gxsj, id);
CREATE INDEX mz_tkry_gxsj ON mz_tkry (gxsj, id);
CREATE INDEX mz_glbt_gxsj ON mz_glbt (gxsj, id);
CREATE INDEX mz_cjr_gxsj ON mz_cjr (gxsj, id);
`

// civilAffairsInbox is where 民政 takes the unified report's deliveries: one
// row each, keyed by the delivery's idempotency key, in its own codes, for
// clerks to verify and take over (clzt). IF NOT EXISTS, so that UpgradeSQL
// can add it to a database loaded before it existed.
const civilAffairsInbox = `
CREATE TABLE IF NOT EXISTS sb_inbox (
  idempotency_key varchar(200) PRIMARY KEY,
  sfzh        varchar(18) NOT NULL,
  dbzt        char(1) REFERENCES zd_bzzt (dm),
  bzrs        smallint,
  tkzt        char(1),
  cjzh        varchar(22),
  cjlb        char(1) REFERENCES zd_cjlb (dm),
  cjdj        smallint CHECK (cjdj BETWEEN 1 AND 4),
  zfqk        varchar(500),
  tbsj        timestamp,
  clzt        char(1) NOT NULL DEFAULT '0',
  received_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sb_inbox IS '社区报送收件箱 (一表通回写)';
COMMENT ON COLUMN sb_inbox.dbzt IS '低保状态核查建议 (zd_bzzt)';
COMMENT ON COLUMN sb_inbox.bzrs IS '保障人数';
COMMENT ON COLUMN sb_inbox.tkzt IS '特困状态: 1 在册 2 终止';
COMMENT ON COLUMN sb_inbox.zfqk IS '走访情况';
COMMENT ON COLUMN sb_inbox.tbsj IS '填报时间';
COMMENT ON COLUMN sb_inbox.clzt IS '处理状态: 0 待处理 1 已采纳 2 不采纳';
`

// healthDDL is 卫健/计生's legacy schema: dates as char(8) 'YYYYMMDD', two-digit
// national codes (GB/T 2261.2 婚姻状况) with dm_* dictionaries, Chinese sex values.
const healthDDL = `
CREATE TABLE dm_hyzk (dm char(2) PRIMARY KEY, mc varchar(20) NOT NULL);
COMMENT ON TABLE dm_hyzk IS '代码: 婚姻状况 GB/T 2261.2';
CREATE TABLE dm_lryy (dm char(2) PRIMARY KEY, mc varchar(20) NOT NULL);
COMMENT ON TABLE dm_lryy IS '代码: 流入原因';

CREATE TABLE t_ldrk (
  id     bigint PRIMARY KEY,
  sfzh   varchar(18),
  xm     varchar(50) NOT NULL,
  xb     varchar(2),
  csrq   char(8),
  xjzdz  varchar(200),
  hjdz   varchar(200),
  hjdqdm char(6),
  lrrq   char(8),
  lryy   char(2) REFERENCES dm_lryy (dm),
  jzzbz  char(1) NOT NULL DEFAULT '0',
  gxsj   timestamp NOT NULL
);
COMMENT ON TABLE t_ldrk IS '流动人口信息';
COMMENT ON COLUMN t_ldrk.xjzdz IS '现居住地址';
COMMENT ON COLUMN t_ldrk.hjdz IS '户籍地址';
COMMENT ON COLUMN t_ldrk.hjdqdm IS '户籍地行政区划代码';
COMMENT ON COLUMN t_ldrk.lrrq IS '流入日期 YYYYMMDD';
COMMENT ON COLUMN t_ldrk.jzzbz IS '是否办理居住证: 1 是 0 否';

CREATE TABLE t_hyxx (
  id     bigint PRIMARY KEY,
  sfzh   varchar(18),
  xm     varchar(50) NOT NULL,
  xb     varchar(2),
  csrq   char(8),
  hyzk   char(2) REFERENCES dm_hyzk (dm),
  znsl   smallint NOT NULL DEFAULT 0,
  ylfnbz char(1) NOT NULL DEFAULT '0',
  byfs   varchar(20),
  gxsj   timestamp NOT NULL
);
COMMENT ON TABLE t_hyxx IS '婚育信息 (全员人口)';
COMMENT ON COLUMN t_hyxx.znsl IS '现有子女数';
COMMENT ON COLUMN t_hyxx.ylfnbz IS '育龄妇女标志: 1 是 0 否';
COMMENT ON COLUMN t_hyxx.byfs IS '避孕方式';

CREATE TABLE t_csdj (
  id     bigint PRIMARY KEY,
  mqsfzh varchar(18),
  mqxm   varchar(50) NOT NULL,
  xsexm  varchar(50),
  xsexb  varchar(2),
  cssj   char(8) NOT NULL,
  cszmbh varchar(20) NOT NULL,
  csyy   varchar(100),
  gxsj   timestamp NOT NULL
);
COMMENT ON TABLE t_csdj IS '出生登记 (出生医学证明)';
COMMENT ON COLUMN t_csdj.mqsfzh IS '母亲身份证号';
COMMENT ON COLUMN t_csdj.cssj IS '出生日期 YYYYMMDD';
COMMENT ON COLUMN t_csdj.cszmbh IS '出生医学证明编号';
`

const healthIndexes = `
CREATE INDEX t_ldrk_sfzh ON t_ldrk (upper(trim(sfzh)));
CREATE INDEX t_hyxx_sfzh ON t_hyxx (upper(trim(sfzh)));
CREATE INDEX t_csdj_mqsfzh ON t_csdj (upper(trim(mqsfzh)));
CREATE INDEX t_ldrk_gxsj ON t_ldrk (gxsj, id);
CREATE INDEX t_hyxx_gxsj ON t_hyxx (gxsj, id);
CREATE INDEX t_csdj_gxsj ON t_csdj (gxsj, id);
`

// healthInbox is where 卫健 takes deliveries (数据接收), in its char(8) dates
// and two-digit codes.
const healthInbox = `
CREATE TABLE IF NOT EXISTS jk_sjjs (
  idempotency_key varchar(200) PRIMARY KEY,
  sfzh        varchar(18) NOT NULL,
  lrrq        char(8),
  hjdz        varchar(200),
  hjdqdm      char(6),
  lryy        char(2) REFERENCES dm_lryy (dm),
  jzzbz       char(1) CHECK (jzzbz IN ('0', '1')),
  hyzk        char(2) REFERENCES dm_hyzk (dm),
  znsl        smallint CHECK (znsl >= 0),
  tbsj        timestamp,
  received_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE jk_sjjs IS '数据接收 (一表通回写)';
COMMENT ON COLUMN jk_sjjs.lrrq IS '流入日期 YYYYMMDD';
COMMENT ON COLUMN jk_sjjs.tbsj IS '填报时间';
`

// InboxTable is the table a SQL department takes report deliveries in.
func InboxTable(dept string) string {
	switch dept {
	case CivilAffairs:
		return "sb_inbox"
	case Health:
		return "jk_sjjs"
	}
	return ""
}

// Code tables, as the departments spell them.
var (
	caDisabilityCodes = map[string]string{"VISION": "1", "HEARING": "2", "SPEECH": "3", "PHYSICAL": "4", "INTELLECTUAL": "5", "MENTAL": "6", "MULTIPLE": "7"}
	caDisabilityNames = [][2]string{{"1", "视力残疾"}, {"2", "听力残疾"}, {"3", "言语残疾"}, {"4", "肢体残疾"}, {"5", "智力残疾"}, {"6", "精神残疾"}, {"7", "多重残疾"}}
	caDibaoStatus     = map[string]string{"ACTIVE": "1", "SUSPENDED": "2", "ENDED": "3"}
	caDibaoNames      = [][2]string{{"1", "在保"}, {"2", "暂停"}, {"3", "停保"}}
	caCareMode        = map[string]string{"CENTRALIZED": "1", "DISPERSED": "2"}
	caCareNames       = [][2]string{{"1", "集中供养"}, {"2", "分散供养"}}
	caBand            = map[string]string{"AGE_80_89": "1", "AGE_90_99": "2", "AGE_100_PLUS": "3"}
	caBandNames       = [][2]string{{"1", "80-89周岁"}, {"2", "90-99周岁"}, {"3", "100周岁及以上"}}
	hMaritalNames     = [][2]string{{"10", "未婚"}, {"20", "已婚"}, {"21", "初婚"}, {"22", "再婚"}, {"23", "复婚"}, {"30", "丧偶"}, {"40", "离婚"}, {"90", "未说明的婚姻状况"}}
	hReason           = map[string]string{"WORK": "01", "BUSINESS": "02", "STUDY": "03", "FAMILY": "04", "OTHER": "99"}
	hReasonNames      = [][2]string{{"01", "务工"}, {"02", "经商"}, {"03", "学习培训"}, {"04", "随迁家属"}, {"05", "投靠亲友"}, {"99", "其他"}}
)

func dictionary(name string, rows [][2]string) table {
	return table{name: name, cols: []string{"dm", "mc"}, n: len(rows), row: func(i int) []any { return []any{rows[i][0], rows[i][1]} }}
}

// null turns empty strings and zero times into SQL NULL.
func null(v any) any {
	switch x := v.(type) {
	case string:
		if x == "" {
			return nil
		}
	case time.Time:
		if x.IsZero() {
			return nil
		}
	}
	return v
}

// ymd is a char(8) date, NULL when zero.
func ymd(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Format("20060102")
}

// wall is a timestamp-without-time-zone value: the CST wall clock.
func wall(t time.Time) time.Time {
	t = t.In(cst)
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
}

// numeric is the amount as a numeric(10,2) value.
func (m Money) numeric() pgtype.Numeric {
	return pgtype.Numeric{Int: big.NewInt(int64(m)), Exp: -2, Valid: true}
}

func gbSex(g string) string {
	if g == "M" {
		return "1"
	}
	return "2"
}

func cnSex(g string) string {
	if g == "M" {
		return "男"
	}
	return "女"
}

func boolCode(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func (ds *Dataset) civilAffairsTables() []table {
	d := &ds.CivilAffairs
	return []table{
		dictionary("zd_cjlb", caDisabilityNames),
		dictionary("zd_bzzt", caDibaoNames),
		dictionary("zd_gyfs", caCareNames),
		dictionary("zd_btdc", caBandNames),
		{"mz_jmxx", []string{"ryid", "sfzh", "xm", "xb", "csrq", "hjdz", "lxdh", "swbz", "swrq", "gxsj"}, len(d.Residents), func(i int) []any {
			x := &d.Residents[i]
			return []any{x.Row, null(x.IDNumber), x.Name, gbSex(x.Gender), x.BirthDate, null(x.Address), null(x.Phone), boolCode(x.Deceased), null(x.DiedOn), wall(x.Updated)}
		}},
		{"mz_dbjz", []string{"id", "sfzh", "xm", "hh", "jzje", "jzrs", "kssj", "jssj", "zt", "gxsj"}, len(d.Dibao), func(i int) []any {
			x := &d.Dibao[i]
			return []any{x.Row, null(x.IDNumber), x.Name, x.HouseholdNumber, x.Amount.numeric(), x.Persons, x.Since, null(x.Until), caDibaoStatus[x.Status], wall(x.Updated)}
		}},
		{"mz_tkry", []string{"id", "sfzh", "xm", "cxlb", "gyfs", "kssj", "zt", "gxsj"}, len(d.Tekun), func(i int) []any {
			x := &d.Tekun[i]
			cx, zt := "1", "1"
			if x.Category == "RURAL" {
				cx = "2"
			}
			if x.Status == "ENDED" {
				zt = "2"
			}
			return []any{x.Row, null(x.IDNumber), x.Name, cx, caCareMode[x.CareMode], x.Since, zt, wall(x.Updated)}
		}},
		{"mz_glbt", []string{"id", "sfzh", "xm", "btdc", "ffje", "kssj", "ffzt", "gxsj"}, len(d.Elderly), func(i int) []any {
			x := &d.Elderly[i]
			zt := "1"
			if !x.Paying {
				zt = "2"
			}
			return []any{x.Row, null(x.IDNumber), x.Name, caBand[x.Band], x.Monthly.numeric(), x.Since, zt, wall(x.Updated)}
		}},
		{"mz_cjr", []string{"id", "sfzh", "xm", "cjzh", "cjlb", "cjdj", "fzrq", "gxsj"}, len(d.Disability), func(i int) []any {
			x := &d.Disability[i]
			return []any{x.Row, null(x.IDNumber), x.Name, x.CertificateNumber, caDisabilityCodes[x.Category], x.Grade, x.IssuedOn, wall(x.Updated)}
		}},
	}
}

// hMarital is the GB/T 2261.2 code health writes for a marital status; a
// married row is coded 20, 21 (first marriage) or 22 (remarried) as clerks did.
func hMarital(status string, row int64) string {
	switch status {
	case "SINGLE":
		return "10"
	case "MARRIED":
		switch row % 10 {
		case 0, 1, 2:
			return "21"
		case 3:
			return "22"
		}
		return "20"
	case "WIDOWED":
		return "30"
	case "DIVORCED":
		return "40"
	}
	return "90"
}

func (ds *Dataset) healthTables() []table {
	d := &ds.Health
	return []table{
		dictionary("dm_hyzk", hMaritalNames),
		dictionary("dm_lryy", hReasonNames),
		{"t_ldrk", []string{"id", "sfzh", "xm", "xb", "csrq", "xjzdz", "hjdz", "hjdqdm", "lrrq", "lryy", "jzzbz", "gxsj"}, len(d.Floating), func(i int) []any {
			x := &d.Floating[i]
			return []any{x.Row, null(x.IDNumber), x.Name, cnSex(x.Gender), ymd(x.BirthDate), null(x.Address), x.OriginAddress, x.OriginCode,
				ymd(x.InflowDate), hReason[x.Reason], boolCode(x.ResidencePermit), wall(x.Updated)}
		}},
		{"t_hyxx", []string{"id", "sfzh", "xm", "xb", "csrq", "hyzk", "znsl", "ylfnbz", "byfs", "gxsj"}, len(d.Marriage), func(i int) []any {
			x := &d.Marriage[i]
			return []any{x.Row, null(x.IDNumber), x.Name, cnSex(x.Gender), ymd(x.BirthDate), hMarital(x.MaritalStatus, x.Row), x.Children,
				boolCode(x.ChildbearingAge), null(x.Contraception), wall(x.Updated)}
		}},
		{"t_csdj", []string{"id", "mqsfzh", "mqxm", "xsexm", "xsexb", "cssj", "cszmbh", "csyy", "gxsj"}, len(d.Births), func(i int) []any {
			x := &d.Births[i]
			return []any{x.Row, null(x.Mother.IDNumber), x.Mother.Name, null(x.ChildName), cnSex(x.ChildGender), ymd(x.BirthDate),
				x.CertificateNumber, x.Hospital, wall(x.Updated)}
		}},
	}
}

// LoadSQL creates dept's legacy schema (civil_affairs or health) in the
// existing, empty database at databaseURL and loads the department's rows with
// COPY, in one transaction: a failed load leaves nothing behind. It returns
// ErrAlreadyLoaded when the tables are already there.
func (ds *Dataset) LoadSQL(ctx context.Context, dept string, databaseURL string) error {
	if err := checkDept(dept, KindSQL); err != nil {
		return err
	}
	var ddl, indexes string
	var tables []table
	switch dept {
	case CivilAffairs:
		ddl, indexes, tables = civilAffairsDDL+civilAffairsInbox, civilAffairsIndexes, ds.civilAffairsTables()
	case Health:
		ddl, indexes, tables = healthDDL+healthInbox, healthIndexes, ds.healthTables()
	}
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("deptsim %s: connect: %w", dept, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.name
	}
	var existing int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = ANY($1)`, names).Scan(&existing); err != nil {
		return fmt.Errorf("deptsim %s: %w", dept, err)
	}
	if existing > 0 {
		return fmt.Errorf("deptsim %s: %w", dept, ErrAlreadyLoaded)
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, ddl); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
		for _, t := range tables {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.cols, pgx.CopyFromSlice(t.n, func(i int) ([]any, error) { return t.row(i), nil })); err != nil {
				return fmt.Errorf("load %s: %w", t.name, err)
			}
		}
		if _, err := tx.Exec(ctx, indexes); err != nil {
			return fmt.Errorf("create indexes: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("deptsim %s: %w", dept, err)
	}
	if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
		return fmt.Errorf("deptsim %s: analyze: %w", dept, err)
	}
	return nil
}
