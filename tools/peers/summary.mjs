// summary.mjs: the Markdown summary of scripts/bench-peers.sh from its
// results.tsv (one line per wrk run: round, workload, contender, and wrk's
// figures). Per workload and contender: medians over rounds of req/s, p50 and
// p99; gridhub / peer as the median of the per-round ratios (each round times
// both back to back); W5b against gridhub's own W1.
//
//   node summary.mjs <results.tsv> <header.md>   (header: lines printed first)
import { readFileSync } from 'node:fs';

const [resultsFile, headerFile] = process.argv.slice(2);
const lines = readFileSync(resultsFile, 'utf8').trim().split('\n');
const cols = lines[0].split('\t');
const rows = lines.slice(1).map((l) => {
  const v = l.split('\t');
  const o = Object.fromEntries(cols.map((c, i) => [c, v[i]]));
  for (const c of cols) if (c !== 'workload' && c !== 'contender') o[c] = Number(o[c]);
  return o;
});

function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
const fmt = {
  rps: (x) => (Number.isFinite(x) ? (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1)) : '–'),
  ms: (us) => (Number.isFinite(us) ? (us >= 100000 ? Math.round(us / 1000).toLocaleString('en-US') : (us / 1000).toFixed(us >= 10000 ? 1 : 2)) + ' ms' : '–'),
  x: (r) => (Number.isFinite(r) ? `${r.toFixed(2)}x` : '–'),
};

const by = (wl, who) => rows.filter((r) => r.workload === wl && r.contender === who);
const perRound = (a, b, f) => {
  const rb = new Map(b.map((r) => [r.round, r]));
  return a.filter((r) => rb.has(r.round)).map((r) => f(r, rb.get(r.round)));
};

const labels = {
  W1: '`people(within: grid, first: 100)` name, gender, birthDate',
  W2: 'W1 + `household { address } grid { code }`',
  W3: '`person(idNumber)` core fields (peer: by primary key)',
  W4: '`person` + employment, socialSecurity, urbanCases (7 REST lookups)',
  W5a: '100-person page + the three REST sections (8 batched REST calls)',
  W5b: '100-person page + all six sections (gridhub only; vs its W1)',
};
const workloads = [...new Set(rows.map((r) => r.workload))];
const out = [];
if (headerFile) out.push(readFileSync(headerFile, 'utf8').trimEnd(), '');
out.push(
  '| workload | peer | gridhub req/s | peer req/s | req/s gridhub/peer | gridhub p50 | peer p50 | p50 gridhub/peer | gridhub p99 | peer p99 | p99 gridhub/peer |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
);
const problems = [];
for (const wl of workloads) {
  const g = by(wl, 'gridhub');
  const peers = [...new Set(rows.filter((r) => r.workload === wl && r.contender !== 'gridhub').map((r) => r.contender))];
  let peerName;
  let p;
  if (peers.length) {
    peerName = peers[0];
    p = by(wl, peerName);
  } else {
    peerName = 'gridhub W1';
    p = by('W1', 'gridhub');
  }
  const cells = [
    `${wl}: ${labels[wl] ?? ''}`,
    peerName,
    fmt.rps(median(g.map((r) => r.rps))),
    fmt.rps(median(p.map((r) => r.rps))),
    fmt.x(median(perRound(g, p, (a, b) => a.rps / b.rps))),
    fmt.ms(median(g.map((r) => r.p50_us))),
    fmt.ms(median(p.map((r) => r.p50_us))),
    fmt.x(median(perRound(g, p, (a, b) => a.p50_us / b.p50_us))),
    fmt.ms(median(g.map((r) => r.p99_us))),
    fmt.ms(median(p.map((r) => r.p99_us))),
    fmt.x(median(perRound(g, p, (a, b) => a.p99_us / b.p99_us))),
  ];
  out.push(`| ${cells.join(' | ')} |`);
  for (const r of [...g, ...(peers.length ? p : [])]) {
    const errs = r.bad + r.connect + r.read + r.write + r.timeout;
    if (errs) {
      problems.push(`${wl} ${r.contender} round ${r.round}: ${r.bad} bad answers (non-200 or GraphQL errors) of ${r.requests}, socket errors connect ${r.connect} read ${r.read} write ${r.write} timeout ${r.timeout}`);
    }
  }
}
const rounds = new Set(rows.map((r) => r.round)).size;
out.push('');
out.push(`Medians of ${rounds} round${rounds === 1 ? '' : 's'}; the ratios are medians of the per-round ratios (req/s: above 1 means gridhub serves more; p50/p99: above 1 means gridhub is slower). Requests per run (median): ` +
  workloads.map((wl) => `${wl} ${Math.round(median(by(wl, 'gridhub').map((r) => r.requests)))}`).join(', ') + ' (gridhub).');
if (problems.length) {
  out.push('', '**Errors under load** (their requests are counted in req/s above):', '');
  for (const p of problems) out.push(`- ${p}`);
} else {
  out.push('', 'Every answer of every run was HTTP 200 without GraphQL errors; no socket errors.');
}
console.log(out.join('\n'));
