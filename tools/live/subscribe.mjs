// subscribe.mjs subscribes to one GraphQL subscription of a hub with the
// reference clients of the two protocols (graphql-ws over a WebSocket,
// graphql-sse over SSE in its distinct-connections mode) and prints one JSON
// line per message on stdout:
//
//   {"next": <data>}  {"errors": [...]}  {"complete": true}  {"closed": <code>, "reason": "..."}
//
// It ends after --count messages, at complete, on an error, or when stdin
// closes (the test that runs it went away).
//
//   node subscribe.mjs --transport ws|sse --url http://127.0.0.1:8080/graphql \
//     --token <bearer token or ""> [--purpose P] --query '<subscription>' \
//     [--variables '{"id": "..."}'] [--count N]
import { parseArgs } from 'node:util';
import { createClient as createWsClient } from 'graphql-ws';
import { createClient as createSseClient } from 'graphql-sse';
import WebSocket from 'ws';

const { values: opt } = parseArgs({
  options: {
    transport: { type: 'string', default: 'ws' },
    url: { type: 'string' },
    token: { type: 'string', default: '' },
    purpose: { type: 'string', default: '' },
    query: { type: 'string' },
    variables: { type: 'string', default: '{}' },
    count: { type: 'string', default: '0' },
  },
});
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const max = Number(opt.count);
let seen = 0;
let done = () => process.exit(0);

const sink = {
  next: (msg) => {
    if (msg.errors) print({ errors: msg.errors });
    if (msg.data !== undefined && msg.data !== null) print({ next: msg.data });
    if (max > 0 && ++seen >= max) done();
  },
  error: (err) => {
    if (Array.isArray(err)) print({ errors: err });
    else if (err && typeof err.code === 'number') print({ closed: err.code, reason: err.reason });
    else print({ errors: [{ message: String(err && err.message || err) }] });
    done();
  },
  complete: () => { print({ complete: true }); done(); },
};

const payload = { query: opt.query, variables: JSON.parse(opt.variables) };
const auth = opt.token ? { Authorization: 'Bearer ' + opt.token } : {};
if (opt.purpose) auth['X-Purpose'] = opt.purpose;

if (opt.transport === 'ws') {
  const client = createWsClient({
    url: opt.url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: auth,
    retryAttempts: 0,
    lazy: true,
    on: { closed: (e) => { if (e && e.code !== 1000) { print({ closed: e.code, reason: e.reason }); done(); } } },
  });
  client.subscribe(payload, sink);
  done = () => { client.dispose(); process.exit(0); };
} else if (opt.transport === 'sse') {
  const client = createSseClient({ url: opt.url, singleConnection: false, headers: auth, retryAttempts: 0 });
  client.subscribe(payload, sink);
  done = () => { client.dispose(); process.exit(0); };
} else {
  print({ errors: [{ message: 'transport is ws or sse' }] });
  process.exit(2);
}
process.stdin.on('end', () => done());
process.stdin.resume();
