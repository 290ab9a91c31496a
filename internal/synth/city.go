// Package synth generates the demo city: a deterministic, seeded population of
// persons, households, buildings and organisations placed in the real division
// codes of 铜陵市, with responsibility grids and synthetic nested polygons.
package synth

import (
	"time"

	"github.com/gridhub/gridhub/internal/grid"
)

// City is one generated city: everything the hub's master index holds, plus the
// ground truth later scoring compares against.
type City struct {
	Seed          int64
	Area          string      // the area code generated: "340705" (demo) or "3407" (city)
	Units         []grid.Unit // every level, parents before children, counts and polygons set
	Buildings     []Building
	Households    []Household
	Persons       []Person
	Organizations []Organization
}

// Building is a residential building (or a village house group) inside one grid.
type Building struct {
	ID       int64
	GridCode string
	Address  string // e.g. 铜陵市铜官区长江西路123号5栋
	Lon, Lat float64
	Floors   int
}

// Household is a registered household (户), living in one building.
type Household struct {
	ID         int64
	GridCode   string
	BuildingID int64
	Address    string // building address plus unit and room, e.g. ...5栋2单元301室
	HeadID     int64  // Person.ID of the head of household (户主)
}

// Person is a registered resident.
type Person struct {
	ID          int64
	IDNumber    string // 18-character resident ID, valid check digit
	Name        string
	Gender      string // "M" or "F", matching the ID's sequence parity
	BirthDate   time.Time
	Ethnicity   string // 汉族 for most
	Phone       string // 11-digit mobile, "" for young children
	HouseholdID int64
	Relation    string // 户主, 配偶, 子女, 父母, 孙子女, 兄弟姐妹, 其他
	GridCode    string
}

// Organization is an organisation (school, hospital, market, enterprise, shop,
// social organisation, government body) placed in one grid.
type Organization struct {
	ID         int64
	CreditCode string // 18-character unified social credit code
	Name       string
	Kind       string // school, hospital, market, enterprise, shop, social_org, government
	GridCode   string
	Address    string
	Lon, Lat   float64
	Employees  int
	LegalRep   string // 法定代表人 name
}
