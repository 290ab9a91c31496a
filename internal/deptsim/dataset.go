package deptsim

import (
	"time"
)

// Dataset is every department's records about one city, with the noise truth.
// Record fields hold unified values (ACTIVE, MARRIED, ...); each department's
// own codes and formats are applied when the records are written out.
type Dataset struct {
	Seed int64
	Area string    // the city's area code
	Now  time.Time // the city's "today" (synth.RefDate), in CST

	CivilAffairs    CivilAffairsData
	Health          HealthData
	Employment      EmploymentData
	SocialSecurity  SocialSecurityData
	UrbanManagement UrbanManagementData
	PartyBuilding   PartyBuildingData

	// Showcase is the ID numbers (sorted) of the showcase residents: people
	// with records in all six departments, written without noise (see
	// ShowcaseCount).
	Showcase []string

	Truth Truth
}

// Ident is a person as one department's record writes them, noise included.
type Ident struct {
	// PersonID is the synth.Person the record is about: ground truth, never
	// written to a source.
	PersonID int64
	// IDNumber is the resident ID number as written: "" when missing, 15 digits,
	// a wrong check character or a lower-case x where the source has noise.
	IDNumber  string
	Name      string
	Gender    string // "M" or "F"
	BirthDate time.Time
	// Address is the address the department holds (perhaps stale).
	Address string
	Phone   string
}

// CivilAffairsData is 民政's database: its residents table and four record tables.
type CivilAffairsData struct {
	Residents  []CAResident
	Dibao      []Dibao
	Tekun      []Tekun
	Elderly    []ElderlyAllowance
	Disability []Disability
}

// CAResident is a row of 民政's resident table (mz_jmxx): everyone with a
// record, and everyone whose death was registered (殡葬 data).
type CAResident struct {
	Row int64
	Ident
	Deceased bool
	DiedOn   time.Time
	Updated  time.Time
}

// Dibao is a 低保 row: one per covered member of a benefit household.
type Dibao struct {
	Row int64
	Ident
	HouseholdNumber string
	Amount          Money // the household's monthly benefit
	Persons         int   // covered members
	Since, Until    time.Time
	Status          string // ACTIVE, SUSPENDED, ENDED
	Updated         time.Time
}

// Tekun is a 特困 (extreme poverty support) row.
type Tekun struct {
	Row int64
	Ident
	Category string // URBAN, RURAL
	CareMode string // CENTRALIZED (集中供养), DISPERSED (分散供养)
	Since    time.Time
	Status   string // ACTIVE, ENDED
	Updated  time.Time
}

// ElderlyAllowance is a 高龄补贴 row.
type ElderlyAllowance struct {
	Row int64
	Ident
	Band    string // AGE_80_89, AGE_90_99, AGE_100_PLUS
	Monthly Money
	Since   time.Time
	Paying  bool // false once stopped (death)
	Updated time.Time
}

// Disability is a certified disability (残疾人证) row.
type Disability struct {
	Row int64
	Ident
	CertificateNumber string
	Category          string // VISION, HEARING, SPEECH, PHYSICAL, INTELLECTUAL, MENTAL, MULTIPLE
	Grade             int    // 1 (most severe) .. 4
	IssuedOn          time.Time
	Updated           time.Time
}

// HealthData is 卫健/计生's database.
type HealthData struct {
	Floating []Floating
	Marriage []Marriage
	Births   []Birth
}

// Floating is a 流动人口 row; Ident.Address is the current address in the city.
type Floating struct {
	Row int64
	Ident
	InflowDate      time.Time
	OriginAddress   string
	OriginCode      string // 6-digit division of origin
	Reason          string // WORK, BUSINESS, STUDY, FAMILY, OTHER
	ResidencePermit bool
	Updated         time.Time
}

// Marriage is a 婚育 row.
type Marriage struct {
	Row int64
	Ident
	MaritalStatus   string // SINGLE, MARRIED, DIVORCED, WIDOWED
	Children        int
	ChildbearingAge bool // 育龄妇女: women 15-49
	Contraception   string
	Updated         time.Time
}

// Birth is a 出生登记 row, keyed by the mother.
type Birth struct {
	Row               int64
	Mother            Ident
	ChildPersonID     int64
	ChildName         string
	ChildGender       string
	BirthDate         time.Time
	CertificateNumber string // 出生医学证明编号
	Hospital          string
	Updated           time.Time
}

// EmploymentData is 就业's API data.
type EmploymentData struct {
	Unemployment []Unemployment
	Hardship     []Hardship
	Certificates []EmploymentCertificate
	Assistance   []Assistance
}

// Unemployment is a 失业登记 record.
type Unemployment struct {
	Row int64
	Ident
	RegisteredOn time.Time
	Status       string // REGISTERED, REEMPLOYED, CANCELLED
	Reason       string
	Updated      time.Time
}

// Hardship is a 就业困难人员 recognition.
type Hardship struct {
	Row int64
	Ident
	Category     string // AGE_4050, ZERO_EMPLOYMENT_FAMILY, DISABLED, LOW_INCOME, LONG_TERM_UNEMPLOYED, OTHER
	RecognizedOn time.Time
	Updated      time.Time
}

// EmploymentCertificate is a 就业创业证.
type EmploymentCertificate struct {
	Row int64
	Ident
	Number   string
	IssuedOn time.Time
	Updated  time.Time
}

// Assistance is one 援助 (employment assistance) record; a person has several.
type Assistance struct {
	Row int64
	Ident
	Kind    string // JOB_REFERRAL, TRAINING, PUBLIC_WELFARE_POST, SUBSIDY
	Date    time.Time
	Detail  string
	Updated time.Time
}

// SocialSecurityData is 社保's API data.
type SocialSecurityData struct {
	Pension []Pension
	Medical []Medical
}

// Pension is a 养老保险 record.
type Pension struct {
	Row int64
	Ident
	Scheme         string // EMPLOYEE, RESIDENT
	Status         string // CONTRIBUTING, RECEIVING, SUSPENDED, TERMINATED
	Since          time.Time
	MonthlyBenefit Money // RECEIVING only
	Updated        time.Time
}

// Medical is a 医疗保险 record.
type Medical struct {
	Row int64
	Ident
	Scheme  string // EMPLOYEE, RESIDENT
	Status  string // INSURED, LAPSED
	Since   time.Time
	Updated time.Time
}

// UrbanManagementData is 城管's case system.
type UrbanManagementData struct {
	Cases []Case
}

// Party types of a case.
const (
	PartyNone         = ""
	PartyPerson       = "person"
	PartyOrganization = "organization"
)

// Case is a 城管 case (事件 or 部件) in the 受理-立案-派遣-处置-核查-结案 workflow.
type Case struct {
	Row         int64
	Number      string
	Kind        string // EVENT (事件), COMPONENT (部件)
	Category    string // 占道经营, 井盖破损, ...
	Stage       string // ACCEPTED, FILED, DISPATCHED, HANDLING, VERIFYING, CLOSED
	ReportedAt  time.Time
	Deadline    time.Time // date the handling is due
	ClosedAt    time.Time // zero unless CLOSED
	Overdue     bool
	Lon, Lat    float64
	Address     string
	Description string
	Source      string // 上报来源: 网格员上报, 12345热线, ...
	GridCode    string
	// PartyType is PartyNone, PartyPerson (Party set) or PartyOrganization
	// (OrgID, CreditCode, OrgName set).
	PartyType  string
	Party      Ident
	OrgID      int64
	CreditCode string
	OrgName    string
	Updated    time.Time
}

// PartyBuildingData is 党建's ledger.
type PartyBuildingData struct {
	Members []Member
}

// Member is a row of the 党员台账.
type Member struct {
	Row int64 // 序号
	Ident
	Ethnicity    string
	Category     string // FULL (正式党员), PROBATIONARY (预备党员)
	JoinedOn     time.Time
	RegularOn    time.Time // 转正时间, zero while probationary
	Branch       string
	Transferred  bool // 组织关系转入
	OutOfContact bool // 失联: no contact for 6+ months
	LastContact  time.Time
	Remark       string
}

// Kinds of noise recorded in Truth.
const (
	NoiseNameTypo     = "name_typo"      // a 同音字 replaced one character of the name
	NoiseStaleAddress = "stale_address"  // the department holds an old address
	NoiseIDMissing    = "id_missing"     // no ID number written
	NoiseIDWrongCheck = "id_wrong_check" // a mistyped digit or check character
	NoiseID15         = "id_15_digit"    // the first-generation 15-digit number
	NoiseIDLowerX     = "id_lowercase_x" // check character x instead of X
	NoiseDuplicate    = "duplicate"      // the row repeats another (Source names its row)
	NoiseDeceased     = "deceased"       // civil_affairs registered the death
)

// Truth is the ground truth of the noise: every row whose identity differs from
// the city's, every duplicate, and every death that other sources missed. A row
// not listed carries the person's true ID number.
type Truth struct {
	Noise  []Noise
	Deaths []Death
}

// Noise is one deviation of a source row from the truth.
type Noise struct {
	Dept     string
	Set      string // the record set (unified name), e.g. dibao
	Row      int64  // the source row (id column, JSON id, 序号)
	PersonID int64
	Kind     string // Noise* constant
	Field    string // the unified or source field concerned: idNumber, name, address
	Source   string // the value as the source writes it
	True     string // the true value
}

// Death is a person civil_affairs registered as dead, with the records other
// sources still keep active (e.g. social_security.pension RECEIVING).
type Death struct {
	PersonID    int64
	IDNumber    string
	DiedOn      time.Time
	StillActive []string // "dept.set" of records still active after the death
}
