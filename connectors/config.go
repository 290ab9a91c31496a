package connectors

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gridhub/gridhub/internal/ident"
	"github.com/gridhub/gridhub/internal/yamlpos"
)

// Department is one department's mapping file.
type Department struct {
	Code string `yaml:"code"` // civil_affairs, health, ...
	Name string `yaml:"name"` // 民政
	Kind string `yaml:"kind"` // sql, rest, sheet
	// Description says what the department keeps, for people and for the
	// GraphQL schema's documentation.
	Description string `yaml:"description"`
	// GraphQL names the department's typed sections in the schema the binary
	// is generated with (tools/gengraph); a department loaded at run time is
	// read through Person.records and Organization.records whatever it says.
	GraphQL *DeptGraphQL `yaml:"graphql"`
	// Timeout bounds one call to the department (default 2s).
	Timeout Duration `yaml:"timeout"`
	// Source says where the department is; only the block of its kind is set.
	Source Source `yaml:"source"`
	// Records are the record sets the department keeps.
	Records []RecordSet `yaml:"records"`
	// WriteBack, when set, is where the department takes fields of the
	// unified report (一表通): its inbox, and its own field for each unified
	// field it accepts.
	WriteBack *WriteBack `yaml:"writeback"`
	// Feed is the rest kind's changes endpoint for the fact feed; the record
	// sets in the feed name their resource in facts.resource.
	Feed *Feed `yaml:"feed"`

	// File is the mapping file the department was read from.
	File string `yaml:"-"`
	// Raw is the file's content after ${VAR} expansion: two departments
	// with the same Raw are the same configuration.
	Raw  []byte `yaml:"-"`
	file *yamlpos.File
}

// DeptGraphQL names a department's typed sections: the field on Person and
// on Organization, and the section's type.
type DeptGraphQL struct {
	Person       *SectionName `yaml:"person"`
	Organization *SectionName `yaml:"organization"`
}

// SectionName is the GraphQL field and type of a department's section.
type SectionName struct {
	// Field is the section's field on Person or Organization (default: the
	// department code in lowerCamelCase).
	Field string `yaml:"field"`
	// Type is the section's type (default: the code in UpperCamelCase, with
	// Org appended for an organization's section). A person's and an
	// organization's section may share a type when their sets match.
	Type string `yaml:"type"`
}

// SetGraphQL names a record set's field in its section and its record type.
type SetGraphQL struct {
	// Field is the set's field in the section (default: the set's name).
	Field string `yaml:"field"`
	// Type is the record type (default: the set's name in UpperCamelCase).
	// Two sets may share a type when their fields match.
	Type string `yaml:"type"`
}

// Source is the address of a department's system, one block per kind.
type Source struct {
	SQL   *SQLSource   `yaml:"sql"`
	REST  *RESTSource  `yaml:"rest"`
	Sheet *SheetSource `yaml:"sheet"`
}

// SQLSource is a department database reached through pgx.
type SQLSource struct {
	// DSN is the database URL, usually "${GRIDHUB_DEPT_CIVIL_AFFAIRS_DSN}".
	DSN string `yaml:"dsn"`
	// MaxConns bounds the pool (default 4).
	MaxConns int `yaml:"max_conns"`
}

// RESTSource is a department HTTP JSON API.
type RESTSource struct {
	BaseURL string `yaml:"base_url"`
	// APIKeyHeader carries APIKey on every request (e.g. X-Api-Key).
	APIKeyHeader string `yaml:"api_key_header"`
	APIKey       string `yaml:"api_key"`
	// Retries is how many times a failed read is retried (default 2), with
	// exponential backoff from Backoff (default 100ms) and jitter.
	Retries int      `yaml:"retries"`
	Backoff Duration `yaml:"backoff"`
}

// SheetSource is a department ledger (台账) kept as an .xlsx or .csv file.
type SheetSource struct {
	Path string `yaml:"path"`
}

// RecordSet is one kind of record a department keeps about an entity, e.g. civil
// affairs' 低保 records about persons.
type RecordSet struct {
	// Name is the record set's field in the department's GraphQL section.
	Name  string `yaml:"name"`
	Label string `yaml:"label"` // 低保
	// Description says what the set holds, for the schema's documentation.
	Description string `yaml:"description"`
	// GraphQL names the set in the generated typed schema.
	GraphQL *SetGraphQL `yaml:"graphql"`
	// Entity is Person or Organization: what the record is about.
	Entity string `yaml:"entity"`
	// Many says a key may have several records (cases); otherwise at most one is
	// kept (the newest, when the source holds duplicates).
	Many bool `yaml:"many"`
	// Key is the source field (column, JSON field, sheet header) holding the
	// entity's key: a resident ID number or a credit code, as the source writes it.
	Key string `yaml:"key"`

	// Query is the sql kind's SELECT; $1 is the batch of keys as a text[]
	// ("WHERE sfzh = ANY($1)").
	Query string `yaml:"query"`
	// Request is the rest kind's batch lookup.
	Request *Request `yaml:"request"`
	// Sheet is the sheet kind's worksheet.
	Sheet *Sheet `yaml:"sheet"`

	Fields []Field `yaml:"fields"`

	// Facts, when set, puts the record set in the department's fact feed.
	Facts *SetFacts `yaml:"facts"`

	// Identity, when set, names the source fields that say who a person
	// record is about besides its key (name, sex, birthDate, address, phone;
	// see identity.go): the fact feed then carries them, and also lists the
	// rows whose ID number is missing or does not validate, for the hub's
	// record linkage to place.
	Identity []Field `yaml:"identity"`
}

// SetFacts is how a record set lists the records changed since a watermark,
// for the hub's synced aggregates. Which keys apply depends on the kind.
type SetFacts struct {
	// Query is the sql kind's SELECT of changed rows: $1 is the updated-at
	// and $2 the id of the last row already listed, $3 the most rows to
	// return: WHERE (gxsj, id) > ($1, $2) ORDER BY gxsj, id LIMIT $3. The id
	// breaks ties between rows updated at the same time, so that paging never
	// skips one. It returns the key, the fields, Updated, ID and Deleted.
	Query string `yaml:"query"`
	// Updated is the sql kind's updated-at column (timestamp, NOT NULL).
	Updated string `yaml:"updated"`
	// ID identifies a record at the department: the sql kind's integer
	// primary-key column; the rest kind's dotted path in a change item
	// (default id); the sheet kind's header of a row number column (序号;
	// default: the key, and for a many set the key and the record's place).
	ID string `yaml:"id"`
	// Deleted is the sql kind's boolean column that is true for a record the
	// department no longer counts (a soft-delete flag, a stopped payment):
	// such a row is a Deleted fact.
	Deleted string `yaml:"deleted"`
	// Resource is the rest kind's resource name in change items.
	Resource string `yaml:"resource"`
}

// Feed is a rest department's changes endpoint: GET path?since=W&limit=N,
// answering items oldest first with the watermark of the next page.
type Feed struct {
	Path string `yaml:"path"`
	// SinceParam and LimitParam name the query parameters (default since
	// and limit).
	SinceParam string `yaml:"since_param"`
	LimitParam string `yaml:"limit_param"`
	// Items, Next and More are dotted paths in the answer: the change array,
	// the watermark to continue from, and whether more changes follow.
	Items string `yaml:"items"`
	Next  string `yaml:"next"`
	More  string `yaml:"more"`
	// Resource, Record, ID and Deleted are dotted paths in a change item: the
	// resource name, the record as a lookup returns it, the record's id, and
	// the deletion marker (defaults resource, record, id, deleted).
	Resource string `yaml:"resource"`
	Record   string `yaml:"record"`
	ID       string `yaml:"id"`
	Deleted  string `yaml:"deleted"`
}

// WriteBack is a department's inbox for the unified report's fields. Only the
// target of its kind is set: table (sql), path (rest), or file and sheet
// (sheet).
type WriteBack struct {
	// Table is the sql kind's inbox table: one row a delivery, its
	// idempotency key the primary key, so a repeat inserts nothing.
	Table string `yaml:"table"`
	// Path is the rest kind's inbox endpoint under base_url, POSTed with an
	// Idempotency-Key header.
	Path string `yaml:"path"`
	// File is the sheet kind's inbox workbook (default: beside the ledger,
	// named after it with -inbox.xlsx), kept apart so that the hub never
	// rewrites the ledger a clerk keeps.
	File string `yaml:"file"`
	// Sheet is the inbox workbook's worksheet (default 报送).
	Sheet string `yaml:"sheet"`
	// Key is the target field receiving the entity key (the normalised ID
	// number or credit code).
	Key string `yaml:"key"`
	// IdempotencyKey is the target field receiving the delivery's
	// idempotency key: default idempotency_key for sql and sheet; for rest
	// the Idempotency-Key header carries it, and it is in the body only when
	// set.
	IdempotencyKey string `yaml:"idempotency_key"`
	// SubmittedAt, when set, is the target field receiving the time the
	// report was submitted, written with TimeFormat in China Standard Time.
	SubmittedAt string `yaml:"submitted_at"`
	// TimeFormat is the layout of SubmittedAt (default 2006-01-02 15:04:05).
	TimeFormat string `yaml:"time_format"`
	// Fields are the unified fields the department takes.
	Fields []WriteField `yaml:"fields"`
}

// WriteField is one unified field a department takes from the report, and
// where it goes.
type WriteField struct {
	// Field is the unified field, "set.field". A set that is a record set
	// names one of its fields, whose type, format and codes apply; any
	// other set names a report-only field (a visit note, an issue report)
	// that the department takes but does not share back, and Type is
	// required.
	Field string `yaml:"field"`
	// To is the department's field: a column, a dotted JSON path, a header.
	To    string `yaml:"to"`
	Label string `yaml:"label"`
	// Type is a report-only field's type (string, int, decimal, date, bool,
	// enum); for a record set's field it may be left out.
	Type string `yaml:"type"`
	// Format is how a date is written (default: the read field's format,
	// else 2006-01-02) or a bool: "true value,false value" (e.g. "1,0",
	// "是,否"; default: the kind's own boolean).
	Format string `yaml:"format"`
	// Codes maps unified enum values onto the department's codes (default:
	// the read field's codes reversed, the smallest code where several map
	// onto one value).
	Codes map[string]string `yaml:"codes"`
}

// Request is how the rest kind looks a batch of keys up.
type Request struct {
	Method string `yaml:"method"` // GET or POST
	Path   string `yaml:"path"`
	// KeysParam names the query parameter (GET, keys joined with commas) or the
	// JSON body field (POST, an array) that carries the batch.
	KeysParam string `yaml:"keys_param"`
	// MaxBatch splits larger batches into several requests (default 100).
	MaxBatch int `yaml:"max_batch"`
	// Items is the dotted path of the record array in the answer ("data.list").
	Items string `yaml:"items"`
	// Paging, when set, follows pages until Total items are read.
	PageParam string `yaml:"page_param"`
	SizeParam string `yaml:"size_param"`
	PageSize  int    `yaml:"page_size"`
	Total     string `yaml:"total"` // dotted path of the total count
}

// Sheet is the worksheet of a record set and where its table starts.
type Sheet struct {
	Name      string `yaml:"name"`       // worksheet name (.xlsx); ignored for .csv
	HeaderRow int    `yaml:"header_row"` // 1-based row of the column headers (default 1)
}

// Field maps one source field onto a unified field.
type Field struct {
	// Name is the unified field name, the GraphQL field of the record set's type.
	Name  string `yaml:"name"`
	Label string `yaml:"label"`
	// Description documents the field in the schema (default: its label and,
	// for an enum, its values).
	Description string `yaml:"description"`
	// From is the source field: a column, a dotted JSON path, a sheet header.
	From string `yaml:"from"`
	// Type is string, int, decimal, date, bool or enum.
	Type string `yaml:"type"`
	// Format is a date's layout in the source, in Go's reference-time form
	// ("20060102", "2006/01/02"); default 2006-01-02. For bool, the values
	// meaning true, comma-separated (default "1,true,是,Y").
	Format string `yaml:"format"`
	// Codes maps the source's codes onto unified enum values (type enum).
	Codes map[string]string `yaml:"codes"`
	// Sharing is the national data-sharing class: unconditional (无条件共享),
	// conditional (有条件共享: only with a purpose that allows it), or none
	// (不予共享: the owning department only).
	Sharing string `yaml:"sharing"`
	// Identifier is the class of identifier the field holds or embeds
	// (resident_id, phone, certificate, account): such a field is masked
	// for every caller unless a stated purpose unmasks its class.
	Identifier ident.Class `yaml:"identifier"`
}

// Field types.
const (
	TypeString  = "string"
	TypeInt     = "int"
	TypeDecimal = "decimal"
	TypeDate    = "date"
	TypeBool    = "bool"
	TypeEnum    = "enum"
)

// Sharing classes.
const (
	Unconditional = "unconditional"
	Conditional   = "conditional"
	NotShared     = "none"
)

// Duration is a time.Duration written as "2s", "150ms".
type Duration time.Duration

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (e.g. 2s, 150ms)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// Std is the duration as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// LoadDepartments reads every *.yaml mapping file in dir, sorted by file name.
func LoadDepartments(dir string) ([]*Department, error) {
	return LoadDepartmentsFS(os.DirFS(dir), dir)
}

// LoadDepartmentsFS reads every *.yaml mapping file at the root of fsys (named
// in errors as under dir), sorted by file name. The problems of every file are
// returned together, each "file:line: what is wrong".
func LoadDepartmentsFS(fsys fs.FS, dir string) ([]*Department, error) {
	files, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no department mapping files (*.yaml)", dir)
	}
	slices.Sort(files)
	var out []*Department
	var errs []error
	seen := map[string]*Department{}
	for _, name := range files {
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		d, err := ParseDepartment(path.Join(dir, name), raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := seen[d.Code]; dup {
			errs = append(errs, d.file.Errorf([]any{"code"}, "department %s is already defined in %s", d.Code, prev.File))
			continue
		}
		seen[d.Code] = d
		out = append(out, d)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// LoadDepartment reads one mapping file: ${VAR} and ${VAR:-default} are expanded
// from the environment, unknown keys are errors naming file and line, and
// Validate checks the rules across fields.
func LoadDepartment(path string) (*Department, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseDepartment(path, raw)
}

// ParseDepartment is LoadDepartment on a file's content; path names it in errors.
func ParseDepartment(path string, raw []byte) (*Department, error) {
	raw = expandEnv(raw)
	d := &Department{}
	f, err := yamlpos.Decode(path, raw, d)
	if err != nil {
		return nil, err
	}
	d.File, d.Raw, d.file = path, raw, f
	if d.Timeout == 0 {
		d.Timeout = Duration(2 * time.Second)
	}
	if wb := d.WriteBack; wb != nil {
		if wb.IdempotencyKey == "" && d.Kind != "rest" {
			wb.IdempotencyKey = DefaultIdempotencyField
		}
		if wb.TimeFormat == "" {
			wb.TimeFormat = DefaultTimeFormat
		}
		if wb.Sheet == "" && d.Kind == "sheet" {
			wb.Sheet = DefaultInboxSheet
		}
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// Errorf is a problem at the key path leads to in the department's mapping
// file, "file:line: what is wrong", for checks made elsewhere (a catalogue
// naming a field the department does not have).
func (d *Department) Errorf(path []any, format string, args ...any) error {
	return d.file.Errorf(path, format, args...)
}

// Line is the line of the key path leads to in the mapping file.
func (d *Department) Line(path ...any) int { return d.file.Line(path...) }

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// EnvReferences lists the environment variables that a mapping file's
// ${NAME} and ${NAME:-default} references read, each once, in the order they
// first appear: what a deployment must set to point the hub at a department.
func EnvReferences(b []byte) []string {
	var names []string
	seen := map[string]bool{}
	for _, m := range envRef.FindAllSubmatch(b, -1) {
		if name := string(m[1]); !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	return names
}

func expandEnv(b []byte) []byte {
	return envRef.ReplaceAllFunc(b, func(m []byte) []byte {
		sub := envRef.FindSubmatch(m)
		if v, ok := os.LookupEnv(string(sub[1])); ok && v != "" {
			return []byte(v)
		}
		return sub[3]
	})
}

var identifier = regexp.MustCompile(`^[a-z][A-Za-z0-9]*$`)
var typeName = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)

func classList() string {
	var names []string
	for _, c := range ident.Classes() {
		names = append(names, string(c))
	}
	return strings.Join(names, ", ")
}

var deptCode = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Validate checks the rules that span fields; each error names the file and the
// line of the offending key.
func (d *Department) Validate() error {
	var errs []error
	fail := func(path []any, format string, args ...any) {
		errs = append(errs, d.file.Errorf(path, "%s: %s", yamlpos.Path(path...), fmt.Sprintf(format, args...)))
	}
	if !deptCode.MatchString(d.Code) {
		fail([]any{"code"}, "department code %q must be lower_snake_case", d.Code)
	}
	if d.Name == "" {
		fail([]any{"name"}, "name is required")
	}
	blocks := map[string]bool{"sql": d.Source.SQL != nil, "rest": d.Source.REST != nil, "sheet": d.Source.Sheet != nil}
	if _, known := blocks[d.Kind]; !known {
		fail([]any{"kind"}, "kind %q is not one of sql, rest, sheet", d.Kind)
	} else {
		for k, set := range blocks {
			if set != (k == d.Kind) {
				fail([]any{"source"}, "a %s department has exactly one source block, source.%s", d.Kind, d.Kind)
				break
			}
		}
	}
	if len(d.Records) == 0 {
		fail([]any{"records"}, "at least one record set is required")
	}
	if g := d.GraphQL; g != nil {
		for entity, sn := range map[string]*SectionName{Person: g.Person, Organization: g.Organization} {
			if sn == nil {
				continue
			}
			if sn.Field != "" && !identifier.MatchString(sn.Field) {
				fail([]any{"graphql", entity, "field"}, "%q is not a lowerCamelCase GraphQL field name", sn.Field)
			}
			if sn.Type != "" && !typeName.MatchString(sn.Type) {
				fail([]any{"graphql", entity, "type"}, "%q is not an UpperCamelCase GraphQL type name", sn.Type)
			}
		}
	}
	names := map[string]bool{}
	for i, rs := range d.Records {
		at := func(more ...any) []any { return append([]any{"records", i}, more...) }
		if !identifier.MatchString(rs.Name) {
			fail(at("name"), "record set name %q must be a lowerCamelCase identifier", rs.Name)
		}
		if names[rs.Name] {
			fail(at("name"), "record set %q is defined twice", rs.Name)
		}
		names[rs.Name] = true
		if rs.Entity != Person && rs.Entity != Organization {
			fail(at("entity"), "entity %q is not person or organization", rs.Entity)
		}
		if rs.Key == "" {
			fail(at("key"), "key (the source field holding the entity key) is required")
		}
		switch d.Kind {
		case "sql":
			if !strings.Contains(rs.Query, "$1") {
				fail(at("query"), "the query must take the batch of keys as $1 (WHERE key = ANY($1))")
			}
		case "rest":
			if rs.Request == nil || rs.Request.Path == "" || rs.Request.KeysParam == "" {
				fail(at("request"), "request with path and keys_param is required")
			} else if m := rs.Request.Method; m != "GET" && m != "POST" {
				fail(at("request", "method"), "method %q is not GET or POST", m)
			}
		case "sheet":
			if rs.Sheet == nil {
				fail(at("sheet"), "sheet is required")
			}
		}
		if g := rs.GraphQL; g != nil {
			if g.Field != "" && !identifier.MatchString(g.Field) {
				fail(at("graphql", "field"), "%q is not a lowerCamelCase GraphQL field name", g.Field)
			}
			if g.Type != "" && !typeName.MatchString(g.Type) {
				fail(at("graphql", "type"), "%q is not an UpperCamelCase GraphQL type name", g.Type)
			}
		}
		d.validateFacts(fail, i, &rs)
		d.validateIdentity(fail, i, &rs)
		fields := map[string]bool{}
		for j, f := range rs.Fields {
			fat := func(more ...any) []any { return append(at("fields", j), more...) }
			if !identifier.MatchString(f.Name) {
				fail(fat("name"), "field name %q must be a lowerCamelCase identifier", f.Name)
			}
			if fields[f.Name] {
				fail(fat("name"), "field %q is defined twice", f.Name)
			}
			fields[f.Name] = true
			if f.From == "" {
				fail(fat("from"), "from (the source field) is required")
			}
			switch f.Type {
			case TypeString, TypeInt, TypeDecimal, TypeBool:
			case TypeDate:
				if f.Format != "" && !dateLayout(f.Format) {
					fail(fat("format"), "date format %q is not a Go layout", f.Format)
				}
			case TypeEnum:
				if len(f.Codes) == 0 {
					fail(fat("codes"), "an enum needs codes (source code -> unified value)")
				}
			default:
				fail(fat("type"), "type %q is not one of string, int, decimal, date, bool, enum", f.Type)
			}
			switch f.Sharing {
			case Unconditional, Conditional, NotShared:
			default:
				fail(fat("sharing"), "sharing %q is not unconditional, conditional or none", f.Sharing)
			}
			if f.Identifier != "" {
				if !f.Identifier.Valid() {
					fail(fat("identifier"), "identifier %q is not one of %s", f.Identifier, classList())
				} else if f.Type != TypeString {
					fail(fat("identifier"), "an identifier is a string field (an ID number is text, not a number), not %s", f.Type)
				}
			}
		}
	}
	d.validateFeed(fail)
	d.validateWriteBack(fail)
	return errors.Join(errs...)
}

// dateLayout tells whether layout is a Go layout that writes a civil date:
// it parses what it formats and tells two days apart, so that "YYYY-MM-DD",
// which Go takes for literal text, is refused.
func dateLayout(layout string) bool {
	a, b := time.Date(2001, 2, 3, 0, 0, 0, 0, time.UTC), time.Date(2002, 11, 24, 0, 0, 0, 0, time.UTC)
	for _, d := range []time.Time{a, b} {
		got, err := time.Parse(layout, d.Format(layout))
		if err != nil || !got.Equal(d) {
			return false
		}
	}
	return true
}

// Set returns the record set called name.
func (d *Department) Set(name string) (*RecordSet, bool) {
	for i := range d.Records {
		if d.Records[i].Name == name {
			return &d.Records[i], true
		}
	}
	return nil, false
}

// SectionField is the GraphQL field of the department's section on entity's
// type (Person or Organization).
func (d *Department) SectionField(entity string) string {
	if sn := d.sectionName(entity); sn != nil && sn.Field != "" {
		return sn.Field
	}
	return lowerCamel(d.Code)
}

// SectionType is the GraphQL type of the department's section about entity.
func (d *Department) SectionType(entity string) string {
	if sn := d.sectionName(entity); sn != nil && sn.Type != "" {
		return sn.Type
	}
	t := upperCamel(d.Code)
	if entity == Organization {
		t += "Org"
	}
	return t
}

func (d *Department) sectionName(entity string) *SectionName {
	if d.GraphQL == nil {
		return nil
	}
	if entity == Organization {
		return d.GraphQL.Organization
	}
	return d.GraphQL.Person
}

// SectionFieldName is the set's field in its section.
func (rs *RecordSet) SectionFieldName() string {
	if rs.GraphQL != nil && rs.GraphQL.Field != "" {
		return rs.GraphQL.Field
	}
	return rs.Name
}

// TypeName is the GraphQL type of the set's records.
func (rs *RecordSet) TypeName() string {
	if rs.GraphQL != nil && rs.GraphQL.Type != "" {
		return rs.GraphQL.Type
	}
	return upperCamel(rs.Name)
}

// Field returns the set's field called name.
func (rs *RecordSet) Field(name string) (*Field, bool) {
	for i := range rs.Fields {
		if rs.Fields[i].Name == name {
			return &rs.Fields[i], true
		}
	}
	return nil, false
}

// lowerCamel turns lower_snake_case into lowerCamelCase.
func lowerCamel(s string) string {
	parts := strings.Split(s, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// upperCamel turns lower_snake_case or lowerCamelCase into UpperCamelCase.
func upperCamel(s string) string {
	c := lowerCamel(s)
	if c == "" {
		return c
	}
	return strings.ToUpper(c[:1]) + c[1:]
}
