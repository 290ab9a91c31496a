// workloads.mjs: the workloads of scripts/bench-peers.sh. It picks the grid
// and the resident, writes each contender's request body for each workload,
// asks every contender once, and fails (exit 1, with the first difference)
// unless all contenders of a workload answer the same rows. Then it writes
// the manifest the script times with wrk:
//
//   <workload> <contender> <url> <body file> <"bearer": send the hub token, or ->
//
// For W4 and W5a it also counts, through the simulators' /_deptsim/stats, the
// REST lookups and keys one request costs each contender, and fails unless
// gridhub and the gateway make the same calls.
//
// Environment: GRIDHUB_URL, GRIDHUB_TOKEN, POSTGRAPHILE_URL, GATEWAY_URL,
// PG_URL (read-only role: picks the grid), SHOWCASE_FILE, OUT_DIR,
// PEERS_{EMPLOYMENT,SOCIAL_SECURITY,URBAN_MANAGEMENT}_{URL,KEY}; optional
// BENCH_GRID (a grid code with 100 or more residents), BENCH_PERSON (a
// resident ID number; default the first showcase resident).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import pg from 'pg';

import { PAGE, hubBodies, pageFields } from './hubbodies.mjs';

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`workloads: ${name} is not set`);
  return v;
}

const hubURL = need('GRIDHUB_URL');
const hubAuth = `Bearer ${need('GRIDHUB_TOKEN')}`;
const pglURL = need('POSTGRAPHILE_URL');
const gwURL = need('GATEWAY_URL');
const outDir = need('OUT_DIR');

function fail(msg) {
  console.error(`workloads: FAIL: ${msg}`);
  process.exit(1);
}

async function ask(url, body, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let doc;
  try {
    doc = JSON.parse(text);
  } catch {
    fail(`${url}: HTTP ${res.status}, not JSON: ${text.slice(0, 300)}`);
  }
  if (res.status !== 200 || doc.errors?.length) {
    fail(`${url}: HTTP ${res.status}, errors: ${JSON.stringify(doc.errors ?? doc).slice(0, 600)}`);
  }
  return { data: doc.data, bytes: Buffer.byteLength(text) };
}

// ---- the grid and the resident ---------------------------------------------

const db = new pg.Client({ connectionString: need('PG_URL') });
await db.connect();
let grid = process.env.BENCH_GRID || '';
if (!grid) {
  // The first responsibility grid (15-digit code) with a full page of residents.
  const r = await db.query(
    `SELECT grid_code FROM persons WHERE length(grid_code) = 15
     GROUP BY grid_code HAVING count(*) >= $1 ORDER BY grid_code LIMIT 1`, [PAGE]);
  if (!r.rowCount) fail(`no grid has ${PAGE} residents`);
  grid = r.rows[0].grid_code;
}
const residents = Number((await db.query('SELECT count(*) AS n FROM persons WHERE grid_code = $1', [grid])).rows[0].n);
await db.end();
if (residents < PAGE) fail(`grid ${grid} has ${residents} residents, fewer than ${PAGE}`);

let person = process.env.BENCH_PERSON || '';
if (!person) {
  const showcase = JSON.parse(readFileSync(need('SHOWCASE_FILE'), 'utf8'));
  if (!showcase.length) fail('no showcase residents');
  person = showcase[0].idNumber;
}

// ---- resident ID numbers as the departments' keys ---------------------------

// key normalises an ID number as the hub's connectors do (connectors.NormalizeKey:
// trimmed, check character x as X, a 15-digit number converted to 18), or ''.
const W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
function checkChar(body17) {
  let s = 0;
  for (let i = 0; i < 17; i++) s += Number(body17[i]) * W[i];
  return '10X98765432'[s % 11];
}
function key(raw) {
  if (typeof raw !== 'string') return '';
  let s = raw.trim();
  if (/^\d{15}$/.test(s)) {
    const body = s.slice(0, 6) + '19' + s.slice(6);
    return body + checkChar(body);
  }
  if (!/^\d{17}[\dxX]$/.test(s)) return '';
  s = s.toUpperCase();
  return s[17] === checkChar(s.slice(0, 17)) ? s : '';
}

// ---- the department sections, as the hub maps them -------------------------

// The code tables of the department mapping files (the built-in ones:
// internal/config/builtin/departments/*.yaml).
const codes = {
  djzt: { '01': 'REGISTERED', '02': 'REEMPLOYED', '03': 'CANCELLED' },
  rdlb: { '01': 'AGE_4050', '02': 'ZERO_EMPLOYMENT_FAMILY', '03': 'DISABLED', '04': 'LOW_INCOME', '05': 'LONG_TERM_UNEMPLOYED', '99': 'OTHER' },
  yzlx: { 1: 'JOB_REFERRAL', 2: 'TRAINING', 3: 'PUBLIC_WELFARE_POST', 4: 'SUBSIDY' },
  pensionScheme: { 110: 'EMPLOYEE', 120: 'EMPLOYEE', 170: 'RESIDENT' },
  pensionStatus: { 1: 'CONTRIBUTING', 2: 'SUSPENDED', 3: 'TERMINATED', 4: 'RECEIVING' },
  medicalScheme: { 310: 'EMPLOYEE', 390: 'RESIDENT' },
  medicalStatus: { 1: 'INSURED', 2: 'LAPSED', 3: 'LAPSED' },
  caseType: { 事件: 'EVENT', 部件: 'COMPONENT' },
  caseStage: { 受理: 'ACCEPTED', 立案: 'FILED', 派遣: 'DISPATCHED', 处置: 'HANDLING', 核查: 'VERIFYING', 结案: 'CLOSED' },
};
const BAD = Symbol('bad');
function code(table, v) {
  if (v == null || v === '') return null;
  return Object.hasOwn(codes[table], v) ? codes[table][v] : BAD;
}
// date converts a department's date (2006-01-02, 20060102, 2006/01/02) to the hub's.
function date(v) {
  if (v == null || v === '') return null;
  let m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v) || /^(\d{4})(\d{2})(\d{2})$/.exec(v) || /^(\d{4})\/(\d{2})\/(\d{2})$/.exec(v);
  return m ? `${m[1]}-${m[2]}-${m[3]}` : BAD;
}
function rec(obj) {
  return Object.values(obj).includes(BAD) ? null : obj;
}
const sorted = (list) => [...list].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));

function hubSections(p, who) {
  const { employment: e, socialSecurity: s, urbanCases: u } = p;
  if (!e || !s || !u) fail(`gridhub: ${who}: a department section is null: ${JSON.stringify(p).slice(0, 300)}`);
  if (e.source.department !== 'employment' || s.source.department !== 'social_security' || u.source.department !== 'urban_management') {
    fail(`gridhub: ${who}: unexpected section sources ${e.source.department} ${s.source.department} ${u.source.department}`);
  }
  const pick = (o, ...f) => (o ? Object.fromEntries(f.map((k) => [k, o[k] ?? null])) : null);
  return {
    unemployment: pick(e.unemployment, 'status', 'registeredOn'),
    hardship: pick(e.hardship, 'category', 'recognizedOn'),
    certificate: pick(e.certificate, 'issuedOn'),
    assistance: sorted(e.assistance.map((a) => pick(a, 'kind', 'date'))),
    pension: pick(s.pension, 'scheme', 'status', 'since'),
    medical: pick(s.medical, 'scheme', 'status', 'since'),
    cases: sorted(u.cases.map((c) => pick(c, 'caseNumber', 'kind', 'category', 'stage', 'reportedOn'))),
  };
}

// The gateway's query for keys: the hub's rest connector's calls for the same
// record sets (connectors/rest: one call per record set and batch of keys,
// max_batch 100 for employment, 200 for social security, 50 for urban
// management; page sizes 100).
function chunks(list, n) {
  const out = [];
  for (let i = 0; i < list.length; i += n) out.push(list.slice(i, i + n));
  return out;
}
function gatewayBody(keys, name) {
  const emp = chunks(keys, 100).map((c) => c.join(','));
  const si = chunks(keys, 200);
  const um = chunks(keys, 50).map((c) => c.join(','));
  const vars = {};
  const defs = [];
  const fields = [];
  emp.forEach((v, i) => {
    defs.push(`$e${i}: String!`);
    vars[`e${i}`] = v;
    fields.push(
      `unemployment${i}: unemployment(sfzh: $e${i}, pageNo: 1) { data { total list { sfzh djzt djrq } } }`,
      `hardship${i}: hardship(sfzh: $e${i}, pageNo: 1) { data { total list { sfzh rdlb rdrq } } }`,
      `certificates${i}: certificates(sfzh: $e${i}, pageNo: 1) { data { total list { sfzh fzrq } } }`,
      `assistance${i}: assistance(sfzh: $e${i}, pageNo: 1) { data { total list { sfzh yzlx yzrq } } }`);
  });
  si.forEach((v, i) => {
    defs.push(`$s${i}: [String]`);
    vars[`s${i}`] = v;
    fields.push(
      `pension${i}: pension(input: { idList: $s${i} }) { items { aac002 aae140 aac008 aae030 } }`,
      `medical${i}: medical(input: { idList: $s${i} }) { items { aac002 aae140 aac008 aae030 } }`);
  });
  um.forEach((v, i) => {
    defs.push(`$u${i}: String!`);
    vars[`u${i}`] = v;
    fields.push(`cases${i}: cases(partyIdNo: $u${i}, page: 1) { total items { partyIdNo caseNo caseType category status reportDate } }`);
  });
  return { query: `query ${name}(${defs.join(', ')}) {\n  ${fields.join('\n  ')}\n}`, variables: vars };
}

// gatewaySections maps the gateway's answer for keys as the hub's rest
// connector does: records whose key does not normalise or is not asked are
// skipped, so are records with an unknown code or a bad date; a record set
// that is not "many" keeps a key's first good record.
function gatewaySections(data, keys) {
  const want = new Set(keys);
  const out = new Map(keys.map((k) => [k, {
    unemployment: null, hardship: null, certificate: null, assistance: [],
    pension: null, medical: null, cases: [],
  }]));
  const each = (list, keyField, fn) => {
    for (const r of list) {
      const k = key(r[keyField]);
      if (k && want.has(k)) fn(out.get(k), r);
    }
  };
  const one = (set, map) => (o, r) => {
    if (o[set] === null) o[set] = rec(map(r));
  };
  const many = (set, map) => (o, r) => {
    const v = rec(map(r));
    if (v) o[set].push(v);
  };
  const paged = (field, page) => {
    if (!page) fail(`gateway: ${field} is null`);
    const list = page.data ? page.data.list : page.items;
    const total = page.data ? page.data.total : page.total;
    if (total > list.length) fail(`gateway: ${field}: ${total} records, more than one page (${list.length}): the gateway query does not page`);
    return list;
  };
  for (const [field, v] of Object.entries(data)) {
    const set = field.replace(/\d+$/, '');
    switch (set) {
      case 'unemployment':
        each(paged(field, v), 'sfzh', one('unemployment', (r) => ({ status: code('djzt', r.djzt), registeredOn: date(r.djrq) })));
        break;
      case 'hardship':
        each(paged(field, v), 'sfzh', one('hardship', (r) => ({ category: code('rdlb', r.rdlb), recognizedOn: date(r.rdrq) })));
        break;
      case 'certificates':
        each(paged(field, v), 'sfzh', one('certificate', (r) => ({ issuedOn: date(r.fzrq) })));
        break;
      case 'assistance':
        each(paged(field, v), 'sfzh', many('assistance', (r) => ({ kind: code('yzlx', r.yzlx), date: date(r.yzrq) })));
        break;
      case 'pension':
        each(v.items, 'aac002', one('pension', (r) => ({ scheme: code('pensionScheme', r.aae140), status: code('pensionStatus', r.aac008), since: date(r.aae030) })));
        break;
      case 'medical':
        each(v.items, 'aac002', one('medical', (r) => ({ scheme: code('medicalScheme', r.aae140), status: code('medicalStatus', r.aac008), since: date(r.aae030) })));
        break;
      case 'cases':
        each(paged(field, v), 'partyIdNo', many('cases', (r) => ({
          caseNumber: r.caseNo ?? null, kind: code('caseType', r.caseType), category: r.category ?? null,
          stage: code('caseStage', r.status), reportedOn: date(r.reportDate),
        })));
        break;
      default:
        fail(`gateway: unexpected field ${field}`);
    }
  }
  for (const o of out.values()) {
    o.assistance = sorted(o.assistance);
    o.cases = sorted(o.cases);
  }
  return out;
}

// ---- the workloads ----------------------------------------------------------

const hb = hubBodies(grid, person);
const bodies = {
  W1: {
    gridhub: hb.W1,
    postgraphile: {
      query: `query W1($grid: String!) { allPeople(condition: { gridCode: $grid }, first: ${PAGE}, orderBy: [GRID_CODE_ASC, ROW_ID_ASC]) { nodes { ${pageFields} } } }`,
      variables: { grid },
    },
  },
  W2: {
    gridhub: hb.W2,
    postgraphile: {
      query: `query W2($grid: String!) { allPeople(condition: { gridCode: $grid }, first: ${PAGE}, orderBy: [GRID_CODE_ASC, ROW_ID_ASC]) { nodes { ${pageFields} householdByHouseholdId { address } gridCode } } }`,
      variables: { grid },
    },
  },
  // W3 postgraphile: by primary key, filled in below (the hub knows the row id).
  W3: { gridhub: hb.W3 },
  W4: { gridhub: hb.W4, gateway: gatewayBody([key(person)], 'W4') },
  // W5a gateway: filled in below (the page's ID numbers).
  W5a: { gridhub: hb.W5a },
  W5b: { gridhub: hb.W5b },
};

const hub = (body, headers) => ask(hubURL, body, { Authorization: hubAuth, ...headers });

// The simulators count the batch lookups and keys they serve.
const simulators = [
  ['employment', 'X-Api-Key'],
  ['social_security', 'X-Auth-Token'],
  ['urban_management', 'X-App-Key'],
].map(([dept, header]) => {
  const env = `PEERS_${dept.toUpperCase()}`;
  return { dept, url: need(`${env}_URL`), headers: { [header]: need(`${env}_KEY`) } };
});
async function simStats() {
  const out = {};
  for (const s of simulators) {
    const res = await fetch(`${s.url}/_deptsim/stats`, { headers: s.headers });
    if (res.status !== 200) fail(`${s.dept} simulator stats: HTTP ${res.status}`);
    out[s.dept] = await res.json();
  }
  return out;
}
// restCost runs fn (one request) and returns the lookups and keys it cost
// each simulator, e.g. "employment 4/4, social_security 2/2, urban_management 1/1".
async function restCost(fn) {
  const before = await simStats();
  const res = await fn();
  const after = await simStats();
  const cost = simulators.map(({ dept }) =>
    `${dept} ${after[dept].lookups - before[dept].lookups}/${after[dept].keys - before[dept].keys}`).join(', ');
  return [res, cost];
}
function sameCost(workload, hubCost, gwCost) {
  if (hubCost !== gwCost) fail(`${workload}: REST lookups/keys per request differ: gridhub ${hubCost}, gateway ${gwCost}`);
  return `REST lookups/keys per request, both: ${hubCost}`;
}
const report = [];
function same(workload, a, b, what) {
  if (isDeepStrictEqual(a, b)) return;
  const diff = (x, y) => {
    if (Array.isArray(x) && Array.isArray(y)) {
      if (x.length !== y.length) return `${x.length} rows vs ${y.length} rows`;
      const i = x.findIndex((v, j) => !isDeepStrictEqual(v, y[j]));
      return `row ${i}: ${JSON.stringify(x[i])} vs ${JSON.stringify(y[i])}`;
    }
    return `${JSON.stringify(x).slice(0, 600)} vs ${JSON.stringify(y).slice(0, 600)}`;
  };
  fail(`${workload}: ${what} differ: ${diff(a, b)}`);
}

// W1, W2: the page.
{
  const g = await hub(bodies.W1.gridhub);
  const p = await ask(pglURL, bodies.W1.postgraphile);
  const gr = g.data.people.nodes;
  const pr = p.data.allPeople.nodes;
  if (gr.length !== PAGE) fail(`W1: gridhub answered ${gr.length} rows, want ${PAGE}`);
  same('W1', gr, pr, 'gridhub and postgraphile rows (name, gender, birthDate)');
  report.push(`W1: ${gr.length} rows equal (name, gender, birthDate); answer bytes gridhub ${g.bytes}, postgraphile ${p.bytes}`);
}
{
  const g = await hub(bodies.W2.gridhub);
  const p = await ask(pglURL, bodies.W2.postgraphile);
  const gr = g.data.people.nodes.map((n) => ({ name: n.name, gender: n.gender, birthDate: n.birthDate, address: n.household.address, grid: n.grid.code }));
  const pr = p.data.allPeople.nodes.map((n) => ({ name: n.name, gender: n.gender, birthDate: n.birthDate, address: n.householdByHouseholdId.address, grid: n.gridCode }));
  if (gr.length !== PAGE) fail(`W2: gridhub answered ${gr.length} rows, want ${PAGE}`);
  same('W2', gr, pr, 'gridhub and postgraphile rows (name, gender, birthDate, address, grid)');
  report.push(`W2: ${gr.length} rows equal (+ household address, grid code); answer bytes gridhub ${g.bytes}, postgraphile ${p.bytes}`);
}

// W3: one resident. The hub finds it by the ID number's blind index, PostGraphile
// by primary key: the hub's Person.id is that key.
{
  const idq = await hub({ query: 'query($id: String!) { person(idNumber: $id) { id } }', variables: { id: person } });
  if (!idq.data.person) fail(`W3: gridhub knows no resident ${person.slice(0, 6)}...`);
  const rowId = idq.data.person.id;
  if (!/^\d+$/.test(rowId)) fail(`W3: gridhub's Person.id ${rowId} is not the row id`);
  bodies.W3.postgraphile = {
    query: 'query W3($rowId: BigInt!) { personByRowId(rowId: $rowId) { name gender birthDate ethnicity relation } }',
    variables: { rowId },
  };
  const g = await hub(bodies.W3.gridhub);
  const p = await ask(pglURL, bodies.W3.postgraphile);
  same('W3', g.data.person, p.data.personByRowId, 'gridhub and postgraphile (name, gender, birthDate, ethnicity, relation)');
  report.push(`W3: resident row ${rowId} equal; answer bytes gridhub ${g.bytes}, postgraphile ${p.bytes}`);
}

// W4: one resident's three REST sections.
const count = (secs) => {
  const c = {};
  for (const s of secs) {
    for (const [k, v] of Object.entries(s)) c[k] = (c[k] || 0) + (Array.isArray(v) ? v.length : v ? 1 : 0);
  }
  return Object.entries(c).map(([k, v]) => `${k} ${v}`).join(', ');
};
{
  const [g, gc] = await restCost(() => hub(bodies.W4.gridhub));
  if (!g.data.person) fail('W4: gridhub: no such resident');
  const gs = hubSections(g.data.person, 'W4');
  const [w, wc] = await restCost(() => ask(gwURL, bodies.W4.gateway));
  const ws = gatewaySections(w.data, [key(person)]).get(key(person));
  same('W4', gs, ws, 'gridhub and gateway sections');
  report.push(`W4: sections equal (records: ${count([gs])}); ${sameCost('W4', gc, wc)}; answer bytes gridhub ${g.bytes}, gateway ${w.bytes}`);
}

// W5a: the page's three REST sections. The page's ID numbers (unmasked under
// the home_visit purpose) become the gateway's keys.
{
  const ids = await hub({
    query: `query($grid: ID!) { people(within: $grid, first: ${PAGE}) { nodes { name idNumber } } }`,
    variables: { grid },
  }, { 'X-Purpose': 'home_visit' });
  const nodes = ids.data.people.nodes;
  const keys = nodes.map((n) => key(n.idNumber));
  if (keys.some((k) => !k)) fail(`W5a: gridhub gave a masked or invalid ID number: ${nodes.find((n, i) => !keys[i]).idNumber}`);
  if (new Set(keys).size !== keys.length) fail('W5a: the page has a duplicate ID number');
  bodies.W5a.gateway = gatewayBody(keys, 'W5a');
  const [g, gc] = await restCost(() => hub(bodies.W5a.gridhub));
  const gn = g.data.people.nodes;
  same('W5a', gn.map((n) => n.name), nodes.map((n) => n.name), 'the page (names) asked twice of gridhub');
  const gs = gn.map((n, i) => hubSections(n, `W5a row ${i}`));
  const [w, wc] = await restCost(() => ask(gwURL, bodies.W5a.gateway));
  const wm = gatewaySections(w.data, keys);
  const ws = keys.map((k) => wm.get(k));
  same('W5a', gs, ws, 'gridhub and gateway sections, per resident');
  report.push(`W5a: ${keys.length} residents' sections equal (records: ${count(gs)}); ${sameCost('W5a', gc, wc)}; answer bytes gridhub ${g.bytes}, gateway ${w.bytes}`);
}

// W5b: gridhub only; it must answer without errors, with every section.
{
  const g = await hub(bodies.W5b.gridhub);
  const gn = g.data.people.nodes;
  if (gn.length !== PAGE) fail(`W5b: gridhub answered ${gn.length} rows`);
  for (const [i, n] of gn.entries()) {
    for (const s of ['civilAffairs', 'health', 'party', 'employment', 'socialSecurity', 'urbanCases']) {
      if (!n[s]) fail(`W5b: row ${i}: section ${s} is null`);
    }
  }
  report.push(`W5b: ${gn.length} rows with all six sections, no errors; answer bytes gridhub ${g.bytes}`);
}

// ---- bodies and manifest ----------------------------------------------------

const urls = { gridhub: hubURL, postgraphile: pglURL, gateway: gwURL };
mkdirSync(join(outDir, 'bodies'), { recursive: true });
const manifest = [];
for (const [wl, byContender] of Object.entries(bodies)) {
  for (const [who, body] of Object.entries(byContender)) {
    const file = join(outDir, 'bodies', `${wl}.${who}.json`);
    writeFileSync(file, JSON.stringify(body));
    manifest.push([wl, who, urls[who], file, who === 'gridhub' ? 'bearer' : '-'].join('\t'));
  }
}
writeFileSync(join(outDir, 'manifest.tsv'), manifest.join('\n') + '\n');
writeFileSync(join(outDir, 'workload.json'), JSON.stringify({ grid, residents, person: `${person.slice(0, 6)}********${person.slice(14)}` }, null, 2));
console.log(`grid ${grid} (${residents} residents); resident ${person.slice(0, 6)}********${person.slice(14)} (showcase)`);
for (const line of report) console.log(line);
