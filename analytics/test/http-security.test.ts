import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { triggerId, type Trigger } from '../../protocol/trigger.ts';
import { checkPolicy } from '../engine/policy.ts';
import { BODY_LIMIT, buildApiApp, REQUEST_TIMEOUT_MS } from '../api/app.ts';
import { PUBLIC_ROUTES } from '../api/guard.ts';
import { routesOf } from '../api/route-table.ts';
import type { Analytics } from '../service.ts';
import { analyticsEnv, DAY, TOKEN, type AnalyticsEnv } from './helpers/setup.ts';

// The HTTP boundary of the analytics API, over real sockets: which routes answer without the
// token (only the public ones, however the path is spelt), the headers every answer carries,
// and what the API takes from a client (feedback time).

const DEVICE = 'sec-washer-1';
const OWNER = 'cust-sec-1';
/**
 * A device of another owner, for the policy check on stored feedback: a decline holds for its
 * owner and offer type across devices, so the decline posted on DEVICE must not count there.
 */
const OTHER_DEVICE = 'sec-washer-2';
const OTHER_OWNER = 'cust-sec-2';
/** Routes that answer without the token. Kept here on purpose: a route that becomes public must change this test too. */
const PUBLIC = new Set([
  'GET /', 'GET /inbox', 'GET /inbox/inbox.js', 'GET /inbox/inbox.css', 'GET /healthz', 'GET /metrics',
  'GET /docs', 'GET /docs/', 'GET /docs/json', 'GET /docs/yaml', 'GET /docs/static/*', 'GET /docs/static/index.html', 'GET /docs/static/swagger-initializer.js',
]);

let env: AnalyticsEnv;
let analytics: Analytics;
let app: FastifyInstance;
let port: number;
let trigger: Trigger;

function makeTrigger(createdMs: number, deviceId = DEVICE, owner = OWNER): Trigger {
  const from = new Date(createdMs - 28 * 86_400_000).toISOString();
  const to = new Date(createdMs).toISOString();
  return {
    id: triggerId('washer-overloaded', 1, deviceId, from, to), ruleId: 'washer-overloaded', ruleVersion: 1, category: 'upsell', purpose: 'marketing',
    deviceId, kind: 'washer', model: 'WM-7', owner, offer: { type: 'model-upgrade', target: 'WM-9' },
    evidence: { summary: '14 of 20 cycles above 7 kg', window: { from, to }, figures: { overload_share: 0.7 }, thresholds: { overload_share: 0.3 } },
    createdAt: to,
  };
}

before(async () => {
  env = await analyticsEnv();
  await env.registry.addDevices([
    { id: DEVICE, kind: 'washer', model: 'WM-7', owner: OWNER, consent: ['marketing', 'service'] },
    { id: OTHER_DEVICE, kind: 'washer', model: 'WM-7', owner: OTHER_OWNER, consent: ['marketing', 'service'] },
  ]);
  analytics = env.analytics();
  await analytics.open();
  trigger = makeTrigger(Date.now() - 86_400_000);
  assert.ok(await analytics.state.insert(trigger, []));
  app = await buildApiApp({ analytics, token: TOKEN });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
});
after(async () => {
  await app?.close();
  await env?.stop();
});

interface Answer { status: number; headers: Record<string, string>; body: string }

/**
 * One request written by hand on a TCP socket, so the request target goes out exactly as given
 * (fetch would normalise `/%61pi`, `//api` or an absolute-form target).
 */
function raw(method: string, target: string, o: { token?: string; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect(port, '127.0.0.1');
    const head = [`${method} ${target} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close'];
    if (o.token) head.push(`Authorization: Bearer ${o.token}`);
    if (o.body !== undefined) head.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(o.body)}`);
    const chunks: Buffer[] = [];
    s.on('connect', () => s.write(`${head.join('\r\n')}\r\n\r\n${o.body ?? ''}`));
    s.on('data', (c) => chunks.push(c));
    s.on('error', reject);
    s.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const [top, ...rest] = text.split('\r\n\r\n');
      const [status, ...lines] = top.split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
      resolve({ status: Number(status.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
  });
}

/** A concrete path for a route pattern: parameters and wildcards get a value. */
function concrete(url: string): string {
  return url.replace(/:id\b/, url.includes('/devices/') ? DEVICE : trigger.id).replace(/:[A-Za-z]+/g, 'x').replace(/\*$/, 'x');
}

/** The same path spelt the ways a router may take for it, or a proxy may pass on. */
function spellings(path: string): Array<{ how: string; target: string }> {
  const pct = (c: string) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  const segs = path.split('/').slice(1);
  const out = [
    { how: 'plain', target: path },
    { how: 'first letter percent-encoded', target: `/${pct(path[1])}${path.slice(2)}` },
    { how: 'first letter percent-encoded in capitals', target: `/${pct(path[1]).toUpperCase()}${path.slice(2)}` },
    { how: 'every letter percent-encoded', target: `/${segs.map((s) => [...s].map(pct).join('')).join('/')}` },
    { how: 'leading %2F', target: `/%2F${path.slice(1)}` },
    { how: 'leading %2f after the slash', target: `/%2f${path.slice(1)}` },
    { how: 'slashes as %2F', target: `/${segs.join('%2F')}` },
    { how: 'double slash', target: `/${path}` },
    { how: 'double slash inside', target: path.replace(/\/([^/]*)$/, '//$1') },
    { how: 'trailing slash', target: `${path}/` },
    { how: 'upper case', target: path.toUpperCase() },
    { how: 'capitalised', target: `/${path[1].toUpperCase()}${path.slice(2)}` },
    { how: 'dot segment', target: `/x/..${path}` },
    { how: 'encoded dot segment', target: `/x/%2e%2e${path}` },
    { how: 'absolute form', target: `http://127.0.0.1:${port}${path}` },
    { how: 'absolute form, other host', target: `http://example.org${path}` },
    { how: 'absolute form, percent-encoded', target: `http://127.0.0.1:${port}/${pct(path[1])}${path.slice(2)}` },
    { how: 'with a query', target: `${path}?limit=1` },
    { how: 'with a fragment', target: `${path}#x` },
  ];
  return out;
}

const bodyFor = (method: string, url: string) =>
  method === 'POST' || method === 'PUT' ? JSON.stringify(url.endsWith('/consent') ? { consent: [] } : { outcome: 'declined' }) : undefined;

describe('authentication by matched route', () => {
  test('every route outside the public allow-list answers 401 without the token, however its path is spelt', async () => {
    const routes = routesOf(app);
    const keys = routes.map((r) => `${r.method} ${r.url}`);
    // The table is the app's own (onRoute), so a route added later is covered here without a change.
    for (const k of ['GET /api/triggers', 'GET /api/triggers/:id', 'POST /api/triggers/:id/feedback', 'GET /api/devices/:id/consent', 'PUT /api/devices/:id/consent', 'GET /api/rules', 'HEAD /api/triggers']) {
      assert.ok(keys.includes(k), `the route table misses ${k}: ${keys.join(', ')}`);
    }
    const guarded = routes.filter((r) => !PUBLIC.has(`${r.method === 'HEAD' ? 'GET' : r.method} ${r.url}`));
    assert.ok(guarded.length >= 12, `expected the API routes, got ${guarded.length}`);

    const leaks: string[] = [];
    let tried = 0;
    for (const r of guarded) {
      const path = concrete(r.url);
      for (const { how, target } of spellings(path)) {
        tried++;
        for (const token of [undefined, 'wrong-token-0123456789']) {
          const res = await raw(r.method, target, { token, body: bodyFor(r.method, r.url) });
          const ok = res.status === 401 && (r.method === 'HEAD' || JSON.parse(res.body).error.code === 'GW_ERR_UNAUTHORIZED');
          if (!ok) leaks.push(`${r.method} ${target} (${how}${token ? ', wrong token' : ''}) → ${res.status} ${res.body.slice(0, 80)}`);
        }
      }
    }
    assert.ok(tried > 200);
    assert.deepEqual(leaks, [], `answered without the token:\n${leaks.join('\n')}`);
    // Nothing changed on the way: the owner's consent and the trigger's status are as they were.
    assert.deepEqual(analytics.registry.device(DEVICE)!.consent, ['marketing', 'service']);
    assert.equal(analytics.state.get(trigger.id)!.status, 'open');
  });

  test('with the token the same spellings reach the API: the 401s above are the guard, not a missing route', async () => {
    for (const target of ['/api/triggers', '/%61pi/triggers', '/%61%70%69/%74riggers', `http://127.0.0.1:${port}/api/triggers`, `http://example.org/%61pi/triggers`]) {
      const res = await raw('GET', target, { token: TOKEN });
      assert.equal(res.status, 200, `${target}: ${res.status} ${res.body}`);
      assert.equal(JSON.parse(res.body).items[0].owner, OWNER);
    }
    // Paths no route matches: the token holder hears which routes there are; nobody else does.
    const noRoute = await raw('GET', '/API/triggers', { token: TOKEN });
    assert.equal(noRoute.status, 400);
    assert.match(JSON.parse(noRoute.body).error.message, /no route GET \/API\/triggers/);
  });

  test('a target the router cannot decode is refused before routing, in the API\'s error form, with nothing from a handler', async () => {
    for (const target of ['/%61pi/triggers/%ZZ', '/%ZZapi/triggers', `/api/triggers/${'a'.repeat(150)}`, `/api/devices/${'%'.repeat(3)}/consent`]) {
      for (const token of [undefined, TOKEN]) {
        const res = await raw('GET', target, { token });
        assert.equal(res.status, 400, `${target}: ${res.status}`);
        const body = JSON.parse(res.body);
        assert.equal(body.error.code, 'GW_ERR_BAD_REQUEST');
        assert.ok(!res.body.includes(OWNER) && !('items' in body));
      }
    }
  });

  test('the public routes answer without the token, and they are the allow-list exactly', async () => {
    const routes = routesOf(app);
    const open: string[] = [];
    for (const r of routes) {
      const res = await raw(r.method, concrete(r.url));
      if (res.status !== 401) open.push(`${r.method === 'HEAD' ? 'GET' : r.method} ${r.url}`);
    }
    // `/docs/static/*` with a made-up file answers 404 from the static server, not 401: it is public.
    assert.deepEqual([...new Set(open)].sort(), [...PUBLIC].sort());
    for (const path of ['/inbox', '/inbox/inbox.js', '/healthz', '/docs/json', '/docs/static/swagger-ui.css']) {
      assert.equal((await raw('GET', path)).status, 200, path);
    }
    const docs = JSON.parse((await raw('GET', '/docs/json')).body);
    assert.ok(docs.paths['/api/triggers/{id}/feedback'], 'the OpenAPI document describes the API');
    assert.deepEqual(docs.security, [{ bearer: [] }]);
  });

  test('no token configured: every API route is refused, the public ones still answer', async () => {
    const bare = await buildApiApp({ analytics });
    await bare.ready();
    for (const r of routesOf(bare)) {
      const res = await bare.inject({ method: r.method as 'GET', url: concrete(r.url), headers: { authorization: `Bearer ${TOKEN}` } });
      const isPublic = PUBLIC.has(`${r.method === 'HEAD' ? 'GET' : r.method} ${r.url}`);
      assert.equal(res.statusCode === 401, !isPublic, `${r.method} ${r.url} → ${res.statusCode}`);
      if (!isPublic && r.method !== 'HEAD') assert.match(res.json().error.message, /no token configured/);
    }
    await bare.close();
  });
});

describe('headers on every answer', () => {
  /** The directives a browser needs to refuse framing and scripts from anywhere but this server. */
  function assertSecure(res: Answer, what: string) {
    const csp = res.headers['content-security-policy'] ?? '';
    const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v.join(' ')]));
    assert.equal(directives.get('default-src'), "'self'", `${what}: CSP ${csp}`);
    assert.equal(directives.get('script-src'), "'self'", `${what}: CSP ${csp}`);
    assert.equal(directives.get('style-src'), "'self'", `${what}: CSP ${csp}`);
    assert.equal(directives.get('frame-ancestors'), "'none'", `${what}: CSP ${csp}`);
    assert.equal(directives.get('object-src'), "'none'", `${what}: CSP ${csp}`);
    assert.ok(!csp.includes('unsafe-'), `${what}: CSP ${csp}`);
    assert.equal(res.headers['x-frame-options'], 'DENY', what);
    assert.equal(res.headers['x-content-type-options'], 'nosniff', what);
    assert.equal(res.headers['referrer-policy'], 'no-referrer', what);
  }

  test('every route, with and without the token, and every kind of refusal carries CSP, anti-framing, nosniff and no-referrer', async () => {
    const seen = new Set<number>();
    for (const r of routesOf(app)) {
      for (const token of [undefined, TOKEN]) {
        // A GET or HEAD changes nothing; feedback and consent are sent invalid, so they change nothing either.
        const res = await raw(r.method, concrete(r.url), { token, body: r.method === 'POST' || r.method === 'PUT' ? '{"spam":1}' : undefined });
        seen.add(res.status);
        assertSecure(res, `${r.method} ${r.url}${token ? '' : ' without token'} → ${res.status}`);
      }
    }
    const odd: Array<[string, string, { token?: string; body?: string }]> = [
      ['GET', '/no/such/route', { token: TOKEN }],
      ['GET', `/api/triggers/${'0'.repeat(32)}`, { token: TOKEN }],
      ['GET', '/api/triggers/%ZZ', {}],
      ['POST', `/api/triggers/${trigger.id}/feedback`, { token: TOKEN, body: '{"outcome":' }],
      ['POST', `/api/triggers/${trigger.id}/feedback`, { token: TOKEN, body: JSON.stringify({ outcome: 'declined', note: 'x'.repeat(70_000) }) }],
      ['GET', '/docs/static/no-such-file.js', {}],
    ];
    for (const [method, target, o] of odd) {
      const res = await raw(method, target, o);
      seen.add(res.status);
      assertSecure(res, `${method} ${target} → ${res.status}`);
    }
    for (const s of [200, 302, 401, 400, 404]) assert.ok(seen.has(s), `no answer with status ${s} was looked at: ${[...seen]}`);
    assert.equal(analytics.state.get(trigger.id)!.status, 'open');
  });
});

describe('feedback is timed by the server', () => {
  const post = (body: unknown) => raw('POST', `/api/triggers/${trigger.id}/feedback`, { token: TOKEN, body: JSON.stringify(body) });

  test('a body with "at" is refused with a clear, coded error and nothing is stored; without it, the time is the receipt', async () => {
    for (const at of ['2999-01-01T00:00:00Z', new Date(Date.now() - DAY).toISOString()]) {
      const res = await post({ outcome: 'declined', at, note: 'dated by the client' });
      assert.equal(res.status, 400);
      const body = JSON.parse(res.body);
      assert.equal(body.error.code, 'GW_ERR_BAD_REQUEST');
      assert.match(body.error.message, /at: the time of a feedback is the time the API receives it/);
      assert.deepEqual(body.error.details.map((d: { field: string }) => d.field), ['at']);
    }
    assert.equal(analytics.state.get(trigger.id)!.feedback.length, 0, 'a refused feedback must not be stored');

    const before = Date.now();
    const ok = await post({ outcome: 'declined', by: 'crm' });
    const after = Date.now();
    assert.equal(ok.status, 201);
    const [fb] = analytics.state.get(trigger.id)!.feedback;
    assert.equal(fb.at, fb.receivedAt);
    assert.ok(Date.parse(fb.at) >= before && Date.parse(fb.at) <= after, `feedback dated ${fb.at}, not when it was received`);
    assert.deepEqual(JSON.parse(ok.body).feedback[0], fb);

    // The OpenAPI document says so: no "at" in the body, nothing else accepted.
    const doc = JSON.parse((await raw('GET', '/docs/json')).body);
    const schema = doc.paths['/api/triggers/{id}/feedback'].post.requestBody.content['application/json'].schema;
    assert.deepEqual(Object.keys(schema.properties).sort(), ['by', 'note', 'outcome']);
    assert.equal(schema.additionalProperties, false);
    assert.match(schema.description, /time the API receives it/);
  });

  test('a decline stored with a time in the future (as clients could once set) counts from when it was received', async () => {
    const now = Date.now();
    const old = makeTrigger(now - 200 * DAY, OTHER_DEVICE, OTHER_OWNER);
    assert.ok(await analytics.state.insert(old, []));
    await analytics.state.addFeedback(old.id, { outcome: 'declined', at: '2999-01-01T00:00:00.000Z', receivedAt: new Date(now - 100 * DAY).toISOString() }, []);
    const rule = analytics.rules.find((r) => r.id === 'washer-overloaded')!;
    const d = analytics.registry.device(OTHER_DEVICE)!;
    const device = { id: d.id, kind: d.kind, model: d.model, owner: d.owner, consent: d.consent, registeredAt: d.createdAt, ownerSince: d.ownerSince };
    const cand = { rule, device, windowFrom: now - 28 * DAY, windowTo: now, detection: { summary: 's', figures: {}, thresholds: {} } };
    const fresh = makeTrigger(now, OTHER_DEVICE, OTHER_OWNER);
    const policy = { frequencyCapMax: 0, frequencyCapDays: 7, serviceOpenDays: 30 };
    // The decline of 100 days ago no longer holds for a suppression time of 90 days; it does for 120.
    assert.equal(checkPolicy(cand, fresh, analytics.state, { ...policy, declineSuppressionDays: 120 }, now), 'declined');
    assert.equal(checkPolicy(cand, fresh, analytics.state, { ...policy, declineSuppressionDays: 90 }, now), null);
  });
});

describe('the allow-list stays true', () => {
  test('an allow-list entry that names no route stops the app from starting', async () => {
    const list = PUBLIC_ROUTES as Set<string>;
    list.add('GET /inbox/gone.js');
    try {
      const stale = await buildApiApp({ analytics, token: TOKEN });
      await assert.rejects(async () => { await stale.ready(); }, /public allow-list names routes that do not exist: GET \/inbox\/gone\.js/);
    } finally {
      list.delete('GET /inbox/gone.js');
    }
  });
});

describe('limits', () => {
  test('a body over the limit is refused before it is read, and the server gives a request a bounded time', async () => {
    assert.equal(BODY_LIMIT, 64 * 1024);
    const note = 'x'.repeat(BODY_LIMIT);
    const res = await raw('POST', `/api/triggers/${trigger.id}/feedback`, { token: TOKEN, body: JSON.stringify({ outcome: 'accepted', note }) });
    assert.equal(res.status, 400);
    const body = JSON.parse(res.body);
    assert.equal(body.error.code, 'GW_ERR_BAD_REQUEST');
    assert.match(body.error.message, /too large/i);
    assert.ok(analytics.state.get(trigger.id)!.feedback.every((f) => f.outcome !== 'accepted'));
    // A body that is not JSON does not get past the schema either.
    for (const [type, text] of [['text/plain', 'outcome=accepted'], ['application/x-www-form-urlencoded', 'outcome=accepted']]) {
      const r = await new Promise<Answer>((resolve, reject) => {
        const sock = tcpConnect(port, '127.0.0.1');
        const chunks: Buffer[] = [];
        sock.on('connect', () => sock.write(`POST /api/triggers/${trigger.id}/feedback HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: ${type}\r\nContent-Length: ${text.length}\r\n\r\n${text}`));
        sock.on('data', (c) => chunks.push(c));
        sock.on('error', reject);
        sock.on('close', () => {
          const [top, ...rest] = Buffer.concat(chunks).toString().split('\r\n\r\n');
          resolve({ status: Number(top.split(' ')[1]), headers: {}, body: rest.join('\r\n\r\n') });
        });
      });
      assert.equal(r.status, 400, `${type}: ${r.status} ${r.body}`);
      assert.equal(JSON.parse(r.body).error.code, 'GW_ERR_BAD_REQUEST');
    }
    assert.ok(analytics.state.get(trigger.id)!.feedback.every((f) => f.outcome !== 'accepted'));
    // fastify's default requestTimeout of 0 would switch Node's off; ours stays on.
    assert.equal(app.server.requestTimeout, REQUEST_TIMEOUT_MS);
    assert.ok(REQUEST_TIMEOUT_MS > 0 && app.server.headersTimeout > 0);
  });
});
