// audit.mjs runs the GraphQL over HTTP audit of graphql-http (auditServer)
// against a running hub and prints one line per audit:
//
//   ok     <id> <name>
//   notice <id> <name>: <reason>   (a MAY the hub does not do)
//   warn   <id> <name>: <reason>   (a SHOULD it does not do)
//   error  <id> <name>: <reason>   (a MUST it does not do)
//
// It exits 1 when any audit warns or errs, 2 when the audit itself fails.
//
//   GRIDHUB_URL=http://127.0.0.1:8080/graphql GRIDHUB_TOKEN=<jwt> node audit.mjs
import { auditServer } from 'graphql-http';

const url = process.env.GRIDHUB_URL;
const token = process.env.GRIDHUB_TOKEN;
if (!url || !token) {
  console.error('audit.mjs: set GRIDHUB_URL and GRIDHUB_TOKEN');
  process.exit(2);
}

// fetchFn is fetch with the caller's bearer token: every audit request must
// reach the GraphQL server, not stop at the auth middleware's 401.
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};

async function describe(res) {
  if (!res) return '';
  let body = '';
  if (!res.bodyUsed) {
    try {
      body = (await res.text()).replace(/\s+/g, ' ').slice(0, 200);
    } catch {
      // the body is gone; status and type say enough
    }
  }
  const type = res.headers.get('content-type') ?? '(none)';
  return ` [got ${res.status} ${type}${body ? ` ${body}` : ''}]`;
}

let results;
try {
  results = await auditServer({ url, fetchFn });
} catch (err) {
  console.error('audit.mjs: the audit failed:', err);
  process.exit(2);
}

const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
for (const r of results) {
  counts[r.status] = (counts[r.status] ?? 0) + 1;
  if (r.status === 'ok') {
    console.log(`ok     ${r.id} ${r.name}`);
  } else {
    console.log(`${r.status.padEnd(6)} ${r.id} ${r.name}: ${r.reason}${await describe(r.response)}`);
  }
}
console.log(
  `conformance: ${results.length} audits: ${counts.ok} ok, ${counts.notice} notice, ${counts.warn} warn, ${counts.error} error`,
);
process.exit(counts.warn > 0 || counts.error > 0 ? 1 : 0);
