// Package people is the hub's master index: persons, households, buildings and
// organisations, each placed in a responsibility grid, read from Postgres.
package people

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/ident"
	"github.com/gridhub/gridhub/internal/secret"
	"github.com/gridhub/gridhub/internal/store"
)

// Page sizes: a page without `first` holds DefaultPage rows; no page holds more than MaxPage.
const (
	DefaultPage = 20
	MaxPage     = 100
)

// Person is a registered resident as the hub holds it.
type Person struct {
	ID          string
	IDNumber    string
	Name        string
	Gender      string
	BirthDate   time.Time
	Ethnicity   string
	Phone       *string
	Relation    string
	GridCode    string
	HouseholdID string
	// Grid is the grid unit the person is placed in, and Household the
	// household, when the reader of the person needs them (the GraphQL
	// layer sets them for an answer; a page query joins the households).
	Grid      *grid.Unit
	Household *Household
	// Masking is how the identifiers are shown to the caller of the request
	// that read the person; nil shows both masked.
	Masking *Masking
}

// Masking says how a person's identifiers are shown: each is masked as its
// class, or shown in clear when its class is "".
type Masking struct {
	IDNumber, Phone ident.Class
}

// MaskAll shows every identifier masked.
var MaskAll = &Masking{IDNumber: ident.ResidentIDClass, Phone: ident.PhoneClass}

// ShownIDNumber is the ID number as the caller may see it (Person.idNumber).
func (p *Person) ShownIDNumber() string {
	m := p.Masking
	if m == nil {
		m = MaskAll
	}
	if m.IDNumber == "" {
		return p.IDNumber
	}
	return m.IDNumber.Mask(p.IDNumber)
}

// ShownPhone is the phone as the caller may see it (Person.phone).
func (p *Person) ShownPhone() *string {
	m := p.Masking
	if m == nil {
		m = MaskAll
	}
	if p.Phone == nil || m.Phone == "" {
		return p.Phone
	}
	s := m.Phone.Mask(*p.Phone)
	return &s
}

// Household is a registered household.
type Household struct {
	ID         string
	GridCode   string
	BuildingID string
	Address    string
	HeadID     string // "" when the household has no recorded head
}

// Building is a residential building or village house group.
type Building struct {
	ID       string
	GridCode string
	Address  string
	Lon, Lat float64
	Floors   int
}

// Organization is an organisation placed in a grid.
type Organization struct {
	ID                  string
	CreditCode          string
	Name                string
	Kind                string
	GridCode            string
	Address             string
	Lon, Lat            float64
	Employees           int
	LegalRepresentative string
	Warnings            []string
}

// PersonPage is one page of persons in (grid code, id) order.
type PersonPage struct {
	Persons     []*Person
	Cursors     []string
	HasNextPage bool
}

// Service reads the master index.
type Service struct {
	pool    store.Querier
	keys    *secret.Keys
	lookups *lookups
}

// NewService returns a Service reading from db: a pool, or a store.Reader
// that sends its reads to a streaming replica while the replica keeps up
// (nothing here must read a write of its own request); keys blind and open
// resident ID numbers.
func NewService(db store.Querier, keys *secret.Keys) *Service {
	return &Service{pool: db, keys: keys, lookups: newLookups()}
}

// Read says what a read of persons (a page, a lookup by ID number) fetches
// besides each one's id, name, gender, birth date and grid code. A read that
// leaves a part out leaves its fields zero: IDNumber "", Phone nil, and so on.
type Read struct {
	// Identifiers: the ID number (opened) and the phone.
	Identifiers bool
	// Details: ethnicity, relation and household id.
	Details bool
	// Households: each one's Household (and household id), joined in the
	// same query.
	Households bool
}

// ReadAll fetches every column of the persons, without their households.
var ReadAll = Read{Identifiers: true, Details: true}

// columns is the select list of r, on persons p joined (when r.Households)
// to households h: id, name, gender, birth_date, grid_code first, then the
// parts r asks for in the order scan reads them.
func (r Read) columns() string {
	c := `p.id, p.name, p.gender, p.birth_date, p.grid_code`
	if r.Identifiers {
		c += `, p.id_enc, p.phone`
	}
	if r.Details {
		c += `, p.ethnicity, p.relation`
	}
	if r.Details || r.Households {
		c += `, p.household_id`
	}
	if r.Households {
		c += `, h.grid_code, h.building_id, h.address, h.head_id`
	}
	return c
}

// from is the FROM clause of r.columns(): persons p, joined to households h
// when r.Households.
func (r Read) from() string {
	if r.Households {
		return `persons p JOIN households h ON h.id = p.household_id`
	}
	return `persons p`
}

// interner shares the strings of a query's rows that repeat (genders, grid
// codes, ethnicities, relations): read as bytes the driver owns, each
// distinct value becomes a string once per query, not once per row.
type interner map[string]string

func (in interner) get(b []byte) string {
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	in[s] = s
	return s
}

// scanner reads rows of r.columns(); it is for one query (its interner is
// not safe for concurrent use).
func (s *Service) scanner(r Read) pgx.RowToFunc[*Person] {
	scan := s.rowScanner(r)
	return func(row pgx.CollectableRow) (*Person, error) { return scan(row, nil) }
}

// keyedScanner reads rows of the blinded ID number and then r.columns().
func (s *Service) keyedScanner(r Read) pgx.RowToFunc[keyedPerson] {
	scan := s.rowScanner(r)
	return func(row pgx.CollectableRow) (keyedPerson, error) {
		var k keyedPerson
		var err error
		k.p, err = scan(row, &k.hmac)
		return k, err
	}
}

// rowScanner reads a row of r.columns(), after a leading column into key
// when key is not nil.
func (s *Service) rowScanner(r Read) func(row pgx.CollectableRow, key *[]byte) (*Person, error) {
	in := interner{}
	return func(row pgx.CollectableRow, key *[]byte) (*Person, error) {
		p := &Person{}
		var (
			id, hh, building    int64
			head                *int64
			enc                 []byte
			gender, grid        pgtype.DriverBytes
			ethnicity, relation pgtype.DriverBytes
		)
		dst := make([]any, 0, 15)
		if key != nil {
			dst = append(dst, key)
		}
		dst = append(dst, &id, &p.Name, &gender, &p.BirthDate, &grid)
		if r.Identifiers {
			dst = append(dst, &enc, &p.Phone)
		}
		if r.Details {
			dst = append(dst, &ethnicity, &relation)
		}
		if r.Details || r.Households {
			dst = append(dst, &hh)
		}
		var h *Household
		if r.Households {
			h = &Household{}
			dst = append(dst, &h.GridCode, &building, &h.Address, &head)
		}
		if err := row.Scan(dst...); err != nil {
			return nil, err
		}
		p.ID, p.Gender, p.GridCode = strconv.FormatInt(id, 10), in.get(gender), in.get(grid)
		if r.Details {
			p.Ethnicity, p.Relation = in.get(ethnicity), in.get(relation)
		}
		if r.Details || r.Households {
			p.HouseholdID = strconv.FormatInt(hh, 10)
		}
		if h != nil {
			h.ID, h.BuildingID = p.HouseholdID, strconv.FormatInt(building, 10)
			if head != nil {
				h.HeadID = strconv.FormatInt(*head, 10)
			}
			p.Household = h
		}
		if r.Identifiers {
			idNumber, err := s.keys.Open(enc)
			if err != nil {
				return nil, fmt.Errorf("person %d: %w", id, err)
			}
			p.IDNumber = idNumber
		}
		return p, nil
	}
}

// PersonByIDNumber finds a resident by ID number, read as r. A malformed
// number is a BAD_USER_INPUT error naming the failed rule; an unknown one is
// (nil, nil). Concurrent lookups share queries (lookup.go).
func (s *Service) PersonByIDNumber(ctx context.Context, idNumber string, r Read) (*Person, error) {
	rid, err := ident.ParseResidentID(idNumber)
	if err != nil {
		return nil, badIdent("idNumber", err)
	}
	return s.byNumber(ctx, s.keys.Blind(rid.Number), r)
}

// People returns a page of residents whose grid code starts with one of
// prefixes (grid codes of any level, disjoint), in (grid code, id) order,
// each read as r says. The caller has checked the prefixes and cut them to
// the caller's row scope.
func (s *Service) People(ctx context.Context, prefixes []string, first *int, after *string, r Read) (*PersonPage, error) {
	limit, err := PageSize(first)
	if err != nil {
		return nil, err
	}
	afterCode, afterID := "", int64(0)
	if after != nil {
		if afterCode, afterID, err = decodePersonCursor(*after); err != nil {
			return nil, err
		}
	}
	query := `SELECT ` + r.columns() + ` FROM ` + r.from() + `
		WHERE p.grid_code >= $1 AND p.grid_code < $2 AND (p.grid_code, p.id) > ($3, $4)
		ORDER BY p.grid_code, p.id LIMIT $5`
	scan := s.scanner(r)
	ranges := slices.Sorted(slices.Values(prefixes))
	var persons []*Person
	// Each prefix is one index range scan; ranges are disjoint and sorted, so
	// their pages follow each other in the connection's order.
	for _, prefix := range ranges {
		lo, hi := prefixRange(prefix)
		if afterCode >= hi || len(persons) > limit {
			continue
		}
		rows, _ := s.pool.Query(ctx, query, lo, hi, afterCode, afterID, limit+1-len(persons))
		got, err := pgx.CollectRows(rows, scan)
		if err != nil {
			return nil, fmt.Errorf("people: page within %s: %w", prefix, err)
		}
		persons = append(persons, got...)
	}
	page := &PersonPage{HasNextPage: len(persons) > limit}
	if page.HasNextPage {
		persons = persons[:limit]
	}
	page.Persons = persons
	page.Cursors = make([]string, len(persons))
	for i, p := range persons {
		page.Cursors[i] = encodePersonCursor(p.GridCode, p.ID)
	}
	return page, nil
}

// CountPeople counts residents under prefixes (disjoint grid codes).
func (s *Service) CountPeople(ctx context.Context, prefixes []string) (int, error) {
	total := 0
	for _, prefix := range prefixes {
		lo, hi := prefixRange(prefix)
		var n int
		err := s.pool.QueryRow(ctx, `SELECT count(*) FROM persons WHERE grid_code >= $1 AND grid_code < $2`, lo, hi).Scan(&n)
		if err != nil {
			return 0, fmt.Errorf("people: count within %s: %w", prefix, err)
		}
		total += n
	}
	return total, nil
}

// PersonsByID loads persons by surrogate id, in the order of ids; a missing one is nil.
func (s *Service) PersonsByID(ctx context.Context, ids []string) ([]*Person, error) {
	keys, err := parseIDs(ids)
	if err != nil {
		return nil, err
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+ReadAll.columns()+` FROM `+ReadAll.from()+` WHERE p.id = ANY($1)`, keys)
	found, err := pgx.CollectRows(rows, s.scanner(ReadAll))
	if err != nil {
		return nil, fmt.Errorf("people: persons by id: %w", err)
	}
	return inOrder(ids, found, func(p *Person) string { return p.ID }), nil
}

// MembersOf loads the members of each household, in the order of ids, head first.
func (s *Service) MembersOf(ctx context.Context, householdIDs []string) ([][]*Person, error) {
	keys, err := parseIDs(householdIDs)
	if err != nil {
		return nil, err
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+ReadAll.columns()+` FROM `+ReadAll.from()+` WHERE p.household_id = ANY($1)
		ORDER BY p.household_id, p.relation <> '户主', p.birth_date, p.id`, keys)
	found, err := pgx.CollectRows(rows, s.scanner(ReadAll))
	if err != nil {
		return nil, fmt.Errorf("people: household members: %w", err)
	}
	byHousehold := make(map[string][]*Person, len(householdIDs))
	for _, p := range found {
		byHousehold[p.HouseholdID] = append(byHousehold[p.HouseholdID], p)
	}
	out := make([][]*Person, len(householdIDs))
	for i, id := range householdIDs {
		out[i] = byHousehold[id]
	}
	return out, nil
}

// HouseholdsByID loads households by id, in the order of ids; a missing one is nil.
func (s *Service) HouseholdsByID(ctx context.Context, ids []string) ([]*Household, error) {
	keys, err := parseIDs(ids)
	if err != nil {
		return nil, err
	}
	rows, _ := s.pool.Query(ctx, `SELECT id, grid_code, building_id, address, head_id FROM households WHERE id = ANY($1)`, keys)
	found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Household, error) {
		var (
			h      Household
			id, b  int64
			headID *int64
		)
		if err := row.Scan(&id, &h.GridCode, &b, &h.Address, &headID); err != nil {
			return nil, err
		}
		h.ID, h.BuildingID = strconv.FormatInt(id, 10), strconv.FormatInt(b, 10)
		if headID != nil {
			h.HeadID = strconv.FormatInt(*headID, 10)
		}
		return &h, nil
	})
	if err != nil {
		return nil, fmt.Errorf("people: households by id: %w", err)
	}
	return inOrder(ids, found, func(h *Household) string { return h.ID }), nil
}

// Household finds one household by its id; a malformed id is BAD_USER_INPUT.
func (s *Service) Household(ctx context.Context, id string) (*Household, error) {
	if err := CheckID("id", id); err != nil {
		return nil, err
	}
	hs, err := s.HouseholdsByID(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	return hs[0], nil
}

// BuildingsByID loads buildings by id, in the order of ids; a missing one is nil.
func (s *Service) BuildingsByID(ctx context.Context, ids []string) ([]*Building, error) {
	keys, err := parseIDs(ids)
	if err != nil {
		return nil, err
	}
	rows, _ := s.pool.Query(ctx, `SELECT id, grid_code, address, lon, lat, floors FROM buildings WHERE id = ANY($1)`, keys)
	found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Building, error) {
		var (
			b  Building
			id int64
		)
		if err := row.Scan(&id, &b.GridCode, &b.Address, &b.Lon, &b.Lat, &b.Floors); err != nil {
			return nil, err
		}
		b.ID = strconv.FormatInt(id, 10)
		return &b, nil
	})
	if err != nil {
		return nil, fmt.Errorf("people: buildings by id: %w", err)
	}
	return inOrder(ids, found, func(b *Building) string { return b.ID }), nil
}

// Organization finds an organisation by unified social credit code. A code that
// breaks the code's structure is BAD_USER_INPUT; a wrong check character is only a
// warning on the result (early codes fail it).
func (s *Service) Organization(ctx context.Context, creditCode string) (*Organization, error) {
	cc, err := ident.ParseCreditCode(creditCode)
	if err != nil {
		return nil, badIdent("creditCode", err)
	}
	var (
		o  Organization
		id int64
	)
	err = s.pool.QueryRow(ctx, `SELECT id, credit_code, name, kind, grid_code, address, lon, lat, employees, legal_rep
		FROM organizations WHERE credit_code = $1`, cc.Code).
		Scan(&id, &o.CreditCode, &o.Name, &o.Kind, &o.GridCode, &o.Address, &o.Lon, &o.Lat, &o.Employees, &o.LegalRepresentative)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("people: organization: %w", err)
	}
	o.ID = strconv.FormatInt(id, 10)
	o.Warnings = cc.Warnings
	if o.Warnings == nil {
		o.Warnings = []string{}
	}
	return &o, nil
}

// CheckCode validates a grid code argument of any level.
func CheckCode(field, code string) error {
	if _, ok := grid.LevelOf(code); !ok {
		return apperr.BadInput(field, "length", "%s must be a grid code of 6, 9, 12 or 15 digits, got %d characters", field, len(code))
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return apperr.BadInput(field, "charset", "%s must be digits only: character %d is not a digit", field, i+1)
		}
	}
	return nil
}

// CheckID validates a surrogate id argument: a positive decimal number.
func CheckID(field, id string) error {
	if n, err := strconv.ParseInt(id, 10, 64); err != nil || n <= 0 {
		return apperr.BadInput(field, "format", "%s must be a positive decimal number", field)
	}
	return nil
}

// PageSize turns a `first` argument into a row count within [1, MaxPage].
func PageSize(first *int) (int, error) {
	if first == nil {
		return DefaultPage, nil
	}
	if *first < 0 || *first > MaxPage {
		return 0, apperr.BadInput("first", "range", "first must be between 0 and %d, got %d", MaxPage, *first)
	}
	return *first, nil
}

// prefixRange is the half-open code range [lo, hi) holding every code under prefix:
// codes are digits, and '~' sorts after every digit in the "C" collation.
func prefixRange(prefix string) (lo, hi string) { return prefix, prefix + "~" }

func encodePersonCursor(gridCode, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("p:" + gridCode + ":" + id))
}

func decodePersonCursor(cursor string) (string, int64, error) {
	bad := apperr.BadInput("after", "cursor", "after is not a cursor of this connection")
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return "", 0, bad
	}
	parts := strings.Split(string(raw), ":")
	if len(parts) != 3 || parts[0] != "p" || CheckCode("after", parts[1]) != nil {
		return "", 0, bad
	}
	id, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return "", 0, bad
	}
	return parts[1], id, nil
}

func parseIDs(ids []string) ([]int64, error) {
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return nil, apperr.BadInput("id", "format", "id must be a positive decimal number")
		}
		out = append(out, n)
	}
	return out, nil
}

func inOrder[T any](ids []string, found []*T, key func(*T) string) []*T {
	byID := make(map[string]*T, len(found))
	for _, v := range found {
		byID[key(v)] = v
	}
	out := make([]*T, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out
}

// badIdent turns an identifier rule failure into BAD_USER_INPUT naming the rule.
func badIdent(field string, err error) error {
	var re *ident.RuleError
	if errors.As(err, &re) {
		return &apperr.Error{Code: apperr.BadUserInput, Field: field, Rule: re.Rule, Message: field + ": " + re.Error()}
	}
	return apperr.BadInput(field, "format", "%s: %v", field, err)
}
