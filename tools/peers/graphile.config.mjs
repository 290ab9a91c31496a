// graphile.config.mjs: PostGraphile v5 (amber preset) over the hub's master
// index, as scripts/bench-peers.sh runs it: `postgraphile -C graphile.config.mjs`
// with the connection string of a read-only role (SELECT on the master-index
// tables only) in PEERS_PG_URL and the port in PEERS_PG_PORT.
import { makePgService } from 'postgraphile/adaptors/pg';
import { PostGraphileAmberPreset } from 'postgraphile/presets/amber';

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`graphile.config.mjs: ${name} is not set`);
  return v;
}

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: need('PEERS_PG_URL'),
      schemas: ['public'],
      // The same number of connections as the hub's pool (pgxpool's default
      // on this 2-core machine: max(4, NumCPU)).
      poolConfig: { max: Number(process.env.PEERS_PG_POOL_MAX || 4) },
    }),
  ],
  grafserv: {
    host: '127.0.0.1',
    port: Number(need('PEERS_PG_PORT')),
    graphiql: false,
    watch: false,
  },
  grafast: {
    explain: false,
  },
};

export default preset;
