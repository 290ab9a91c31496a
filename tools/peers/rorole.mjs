// rorole.mjs: make (or refresh) the read-only role PostGraphile connects as in
// scripts/bench-peers.sh: LOGIN, read-only transactions by default, SELECT on
// the master-index tables only. Prints the role's connection string.
//
//   node rorole.mjs <superuser postgres URL> [role]
import pg from 'pg';

const [superURL, role = 'gridhub_bench_ro'] = process.argv.slice(2);
if (!superURL) {
  console.error('usage: node rorole.mjs <superuser postgres URL> [role]');
  process.exit(2);
}
if (!/^[a-z_][a-z0-9_]*$/.test(role)) {
  console.error(`rorole: bad role name ${role}`);
  process.exit(2);
}

// The master index (internal/store/migrations/00001_master_index.sql).
const tables = ['grid_units', 'buildings', 'households', 'persons', 'organizations'];

const client = new pg.Client({ connectionString: superURL });
await client.connect();
try {
  const db = (await client.query('SELECT current_database() AS db')).rows[0].db;
  const exists = (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).rowCount > 0;
  if (!exists) {
    await client.query(`CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT`);
  }
  await client.query(`ALTER ROLE ${role} SET default_transaction_read_only = on`);
  await client.query(`GRANT CONNECT ON DATABASE ${client.escapeIdentifier(db)} TO ${role}`);
  await client.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
  await client.query(`GRANT SELECT ON ${tables.join(', ')} TO ${role}`);
  // Nothing else: no write on anything, no read outside the master index.
  const u = new URL(superURL);
  u.username = role;
  u.password = '';
  console.log(u.toString());
} finally {
  await client.end();
}
