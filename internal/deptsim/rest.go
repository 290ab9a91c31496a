package deptsim

import (
	"strconv"
	"time"
)

// The REST departments' JSON records, each in its department's own style:
//
//   - employment: pinyin keys, dates "2006-01-02", two-digit codes;
//   - social_security: the 金保工程 field codes (aac002 公民身份号码, aac003 姓名,
//     aae140 险种类型, aac008 参保状态, aae030 开始日期, aae036 经办时间), dates
//     "20060102";
//   - urban_management: camelCase English keys, dates "2006/01/02", Chinese
//     stage and type names, coordinates in a nested location object.

// Date layouts of the REST departments.
const (
	employmentDate = "2006-01-02"
	employmentTime = "2006-01-02 15:04:05"
	siDate         = "20060102"
	siTime         = "20060102150405"
	urbanDate      = "2006/01/02"
	urbanTime      = "2006/01/02 15:04:05"
)

func fmtDate(t time.Time, layout string) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(layout)
}

func fmtTime(t time.Time, layout string) string {
	if t.IsZero() {
		return ""
	}
	return t.In(cst).Format(layout)
}

// Employment codes.
var (
	empStatus = map[string]string{"REGISTERED": "01", "REEMPLOYED": "02", "CANCELLED": "03"}
	empHard   = map[string][2]string{
		"AGE_4050": {"01", "4050人员"}, "ZERO_EMPLOYMENT_FAMILY": {"02", "零就业家庭成员"}, "DISABLED": {"03", "残疾人"},
		"LOW_INCOME": {"04", "低保家庭成员"}, "LONG_TERM_UNEMPLOYED": {"05", "长期失业人员"}, "OTHER": {"99", "其他"},
	}
	empAssist = map[string][2]string{
		"JOB_REFERRAL": {"1", "职业介绍"}, "TRAINING": {"2", "职业培训"}, "PUBLIC_WELFARE_POST": {"3", "公益性岗位安置"}, "SUBSIDY": {"4", "补贴发放"},
	}
)

const employmentOffice = "铜陵市铜官区公共就业人才服务中心"

type empUnemployment struct {
	ID   string `json:"id"`
	Sfzh string `json:"sfzh"`
	Xm   string `json:"xm"`
	Xb   string `json:"xb"`
	Csrq string `json:"csrq"`
	Djrq string `json:"djrq"`           // 登记日期
	Djzt string `json:"djzt"`           // 登记状态 01 登记失业 02 已就业 03 注销
	Syyy string `json:"syyy,omitempty"` // 失业原因
	Lxdz string `json:"lxdz,omitempty"`
	Lxdh string `json:"lxdh,omitempty"`
	Jbjg string `json:"jbjg"` // 经办机构
	Gxsj string `json:"gxsj"`
}

type empHardship struct {
	ID     string `json:"id"`
	Sfzh   string `json:"sfzh"`
	Xm     string `json:"xm"`
	Rdlb   string `json:"rdlb"`   // 认定类别
	Rdlbmc string `json:"rdlbmc"` // 认定类别名称
	Rdrq   string `json:"rdrq"`   // 认定日期
	Gxsj   string `json:"gxsj"`
}

type empCertificate struct {
	ID   string `json:"id"`
	Sfzh string `json:"sfzh"`
	Xm   string `json:"xm"`
	Zh   string `json:"zh"`   // 证号
	Fzrq string `json:"fzrq"` // 发证日期
	Fzjg string `json:"fzjg"` // 发证机构
	Gxsj string `json:"gxsj"`
}

type empAssistance struct {
	ID     string `json:"id"`
	Sfzh   string `json:"sfzh"`
	Xm     string `json:"xm"`
	Yzlx   string `json:"yzlx"`   // 援助类型
	Yzlxmc string `json:"yzlxmc"` // 援助类型名称
	Yzrq   string `json:"yzrq"`   // 援助日期
	Yznr   string `json:"yznr"`   // 援助内容
	Gxsj   string `json:"gxsj"`
}

func gbSexOrEmpty(g string) string {
	if g == "" {
		return ""
	}
	return gbSex(g)
}

// Social security codes (aae140 险种类型, aac008 参保状态).
var (
	siPensionStatus = map[string]string{"CONTRIBUTING": "1", "SUSPENDED": "2", "TERMINATED": "3", "RECEIVING": "4"}
	siMedicalStatus = map[string]string{"INSURED": "1", "LAPSED": "2"}
)

type siPension struct {
	Aac001 string  `json:"aac001"` // 个人编号
	Aac002 string  `json:"aac002"` // 公民身份号码
	Aac003 string  `json:"aac003"` // 姓名
	Aac004 string  `json:"aac004"` // 性别
	Aae140 string  `json:"aae140"` // 险种类型
	Aac008 string  `json:"aac008"` // 参保状态
	Aae030 string  `json:"aae030"` // 开始日期
	Dyje   float64 `json:"dyje"`   // 月待遇金额
	Aab001 string  `json:"aab001,omitempty"`
	Aae036 string  `json:"aae036"` // 经办时间
}

type siMedical struct {
	Aac001 string `json:"aac001"`
	Aac002 string `json:"aac002"`
	Aac003 string `json:"aac003"`
	Aac004 string `json:"aac004"`
	Aae140 string `json:"aae140"`
	Aac008 string `json:"aac008"`
	Aae030 string `json:"aae030"`
	Aae036 string `json:"aae036"`
}

// siPersonNumber is social security's own person number (aac001).
func siPersonNumber(pid int64) string { return "3407" + leftPad(strconv.FormatInt(pid, 10), 10) }

func leftPad(s string, n int) string {
	for len(s) < n {
		s = "0" + s
	}
	return s
}

// Urban management names.
var (
	urbanKind  = map[string]string{"EVENT": "事件", "COMPONENT": "部件"}
	urbanStage = map[string]string{"ACCEPTED": "受理", "FILED": "立案", "DISPATCHED": "派遣", "HANDLING": "处置", "VERIFYING": "核查", "CLOSED": "结案"}
	urbanParty = map[string]string{PartyPerson: "个人", PartyOrganization: "单位"}
)

type urbanLocation struct {
	Lng     float64 `json:"lng"`
	Lat     float64 `json:"lat"`
	Address string  `json:"address"`
}

type urbanCase struct {
	CaseID      int64         `json:"caseId"`
	CaseNo      string        `json:"caseNo"`
	CaseType    string        `json:"caseType"`
	Category    string        `json:"category"`
	Status      string        `json:"status"`
	Source      string        `json:"source"`
	ReportDate  string        `json:"reportDate"`
	Deadline    string        `json:"deadline"`
	FinishDate  string        `json:"finishDate"`
	IsOverdue   bool          `json:"isOverdue"`
	Location    urbanLocation `json:"location"`
	GridCode    string        `json:"gridCode"`
	Description string        `json:"description"`
	PartyType   string        `json:"partyType"`
	PartyName   string        `json:"partyName"`
	PartyIDNo   string        `json:"partyIdNo"`
	UpdateTime  string        `json:"updateTime"`
}

// resource is one REST collection as written to disk: each record with the
// key it is looked up by (as the source writes it) and its update time.
type resource struct {
	name string
	n    int
	item func(i int) (key string, updated time.Time, record any)
}

func (ds *Dataset) restResources(dept string) []resource {
	switch dept {
	case Employment:
		d := &ds.Employment
		return []resource{
			{"unemployment", len(d.Unemployment), func(i int) (string, time.Time, any) {
				x := &d.Unemployment[i]
				return x.IDNumber, x.Updated, empUnemployment{
					ID: strconv.FormatInt(x.Row, 10), Sfzh: x.IDNumber, Xm: x.Name, Xb: gbSexOrEmpty(x.Gender), Csrq: fmtDate(x.BirthDate, employmentDate),
					Djrq: fmtDate(x.RegisteredOn, employmentDate), Djzt: empStatus[x.Status], Syyy: x.Reason, Lxdz: x.Address, Lxdh: x.Phone,
					Jbjg: employmentOffice, Gxsj: fmtTime(x.Updated, employmentTime),
				}
			}},
			{"hardship", len(d.Hardship), func(i int) (string, time.Time, any) {
				x := &d.Hardship[i]
				c := empHard[x.Category]
				return x.IDNumber, x.Updated, empHardship{
					ID: strconv.FormatInt(x.Row, 10), Sfzh: x.IDNumber, Xm: x.Name, Rdlb: c[0], Rdlbmc: c[1],
					Rdrq: fmtDate(x.RecognizedOn, employmentDate), Gxsj: fmtTime(x.Updated, employmentTime),
				}
			}},
			{"certificates", len(d.Certificates), func(i int) (string, time.Time, any) {
				x := &d.Certificates[i]
				return x.IDNumber, x.Updated, empCertificate{
					ID: strconv.FormatInt(x.Row, 10), Sfzh: x.IDNumber, Xm: x.Name, Zh: x.Number, Fzrq: fmtDate(x.IssuedOn, employmentDate),
					Fzjg: "铜陵市铜官区人力资源和社会保障局", Gxsj: fmtTime(x.Updated, employmentTime),
				}
			}},
			{"assistance", len(d.Assistance), func(i int) (string, time.Time, any) {
				x := &d.Assistance[i]
				c := empAssist[x.Kind]
				return x.IDNumber, x.Updated, empAssistance{
					ID: strconv.FormatInt(x.Row, 10), Sfzh: x.IDNumber, Xm: x.Name, Yzlx: c[0], Yzlxmc: c[1],
					Yzrq: fmtDate(x.Date, employmentDate), Yznr: x.Detail, Gxsj: fmtTime(x.Updated, employmentTime),
				}
			}},
		}
	case SocialSecurity:
		d := &ds.SocialSecurity
		return []resource{
			{"pension", len(d.Pension), func(i int) (string, time.Time, any) {
				x := &d.Pension[i]
				scheme := "170"
				if x.Scheme == "EMPLOYEE" {
					scheme = "110"
					if x.PersonID%10 == 0 {
						scheme = "120" // 机关事业单位
					}
				}
				return x.IDNumber, x.Updated, siPension{
					Aac001: siPersonNumber(x.PersonID), Aac002: x.IDNumber, Aac003: x.Name, Aac004: gbSexOrEmpty(x.Gender),
					Aae140: scheme, Aac008: siPensionStatus[x.Status], Aae030: fmtDate(x.Since, siDate), Dyje: x.MonthlyBenefit.Float(),
					Aae036: fmtTime(x.Updated, siTime),
				}
			}},
			{"medical", len(d.Medical), func(i int) (string, time.Time, any) {
				x := &d.Medical[i]
				scheme := "390"
				if x.Scheme == "EMPLOYEE" {
					scheme = "310"
				}
				return x.IDNumber, x.Updated, siMedical{
					Aac001: siPersonNumber(x.PersonID), Aac002: x.IDNumber, Aac003: x.Name, Aac004: gbSexOrEmpty(x.Gender),
					Aae140: scheme, Aac008: siMedicalStatus[x.Status], Aae030: fmtDate(x.Since, siDate), Aae036: fmtTime(x.Updated, siTime),
				}
			}},
		}
	case UrbanManagement:
		d := &ds.UrbanManagement
		return []resource{
			{"cases", len(d.Cases), func(i int) (string, time.Time, any) {
				x := &d.Cases[i]
				c := urbanCase{
					CaseID: x.Row, CaseNo: x.Number, CaseType: urbanKind[x.Kind], Category: x.Category, Status: urbanStage[x.Stage],
					Source: x.Source, ReportDate: fmtTime(x.ReportedAt, urbanDate), Deadline: fmtDate(x.Deadline, urbanDate),
					FinishDate: fmtTime(x.ClosedAt, urbanDate), IsOverdue: x.Overdue,
					Location: urbanLocation{Lng: x.Lon, Lat: x.Lat, Address: x.Address}, GridCode: x.GridCode,
					Description: x.Description, PartyType: urbanParty[x.PartyType], UpdateTime: fmtTime(x.Updated, urbanTime),
				}
				switch x.PartyType {
				case PartyPerson:
					c.PartyName, c.PartyIDNo = x.Party.Name, x.Party.IDNumber
				case PartyOrganization:
					c.PartyName, c.PartyIDNo = x.OrgName, x.CreditCode
				}
				return c.PartyIDNo, x.Updated, c
			}},
		}
	}
	return nil
}
