/**
 * The hardening probe's inputs, kept: bad bytes at every HTTP entry of ingestion, leads and reporting get a 4xx in
 * the `{error, problems: [{field, reason}]}` shape, never a 5xx, a stack, Nest's default body or the input echoed;
 * text no store can hold (NUL) is refused at the edge instead of accepted and then lost.
 */
import { randomBytes } from 'node:crypto';
import { startService, type RunningService } from '@tributary/runtime';
import { stopTelemetry } from '@tributary/observability';
import { readAnswer, testServiceEnv, uniqueId, type ReadAnswer } from '@tributary/testing';
import { IngestionModule, loadIngestionConfig } from '@tributary/ingestion';
import { ReportingModule, loadReportingConfig } from '@tributary/reporting';
import { LeadsModule, loadLeadsConfig } from '@tributary/leads';

const run = uniqueId('hos');
const adminToken = randomBytes(32).toString('base64url');
const writeKey = `hostile-${run}`;
const basic = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
/** Put in the values of hostile inputs: an answer that contains it echoes what the client sent. */
const CANARY = 'ECHO-CANARY-7f3a';
const env = (service: string, extra: Record<string, string> = {}) =>
  testServiceEnv(service, run, {
    WRITE_KEYS: `${writeKey}:ws_${run}`,
    RATE_LIMIT_PER_SECOND: '100000',
    RATE_LIMIT_BURST: '100000',
    ...extra,
  });

const services: Partial<Record<'ingestion' | 'leads' | 'reporting', RunningService>> = {};

beforeAll(async () => {
  const ingestionConfig = loadIngestionConfig(
    env('ingestion', { ADMIN_TOKEN: adminToken, LEAD_REQUIRED_CONSENTS: `ws_${run}:email_marketing` }),
  );
  const leadsConfig = loadLeadsConfig(env('leads'));
  const reportingConfig = loadReportingConfig(env('reporting'));
  await Promise.all([
    startService(IngestionModule.forRoot(ingestionConfig), ingestionConfig).then(
      (s) => (services.ingestion = s),
    ),
    startService(LeadsModule.forRoot(leadsConfig), leadsConfig).then((s) => (services.leads = s)),
    startService(ReportingModule.forRoot(reportingConfig), reportingConfig).then(
      (s) => (services.reporting = s),
    ),
  ]);
});

afterAll(async () => {
  await Promise.all(Object.values(services).map((s) => s.close()));
  await stopTelemetry();
});

type ServiceName = keyof typeof services;

async function send(
  service: ServiceName,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<ReadAnswer> {
  const running = services[service];
  if (!running) throw new Error(`${service} is not running`);
  const res = await fetch(`${running.url}${path}`, {
    method,
    headers: { authorization: path.startsWith('/v1/admin') ? `Bearer ${adminToken}` : basic, ...headers },
    body,
  });
  return readAnswer(res);
}

/** A 4xx whose body is the API's error shape and says nothing of the input or the code behind it. */
function expectRefusedCleanly(answer: ReadAnswer, what: string): void {
  const shape = answer.json as { error?: unknown; problems?: { field?: unknown; reason?: unknown }[] };
  expect({ what, status: answer.status >= 400 && answer.status < 500 ? '4xx' : answer.status }).toEqual({
    what,
    status: '4xx',
  });
  expect({ what, error: typeof shape?.error }).toEqual({ what, error: 'string' });
  expect({ what, problems: Array.isArray(shape?.problems) && shape.problems.length > 0 }).toEqual({
    what,
    problems: true,
  });
  for (const problem of shape.problems ?? []) {
    expect({ what, field: typeof problem.field, reason: typeof problem.reason }).toEqual({
      what,
      field: 'string',
      reason: 'string',
    });
  }
  expect({ what, statusCode: 'statusCode' in (shape as object) }).toEqual({ what, statusCode: false });
  expect({ what, echo: answer.text.includes(CANARY) }).toEqual({ what, echo: false });
  expect({ what, stack: /\n\s+at |RangeError|Maximum call stack/.test(answer.text) }).toEqual({
    what,
    stack: false,
  });
}

const deepArray = (depth: number) => `${'['.repeat(depth)}"${CANARY}"${']'.repeat(depth)}`;
const deepObject = (depth: number) => `${'{"a":'.repeat(depth)}"${CANARY}"${'}'.repeat(depth)}`;
const nul = `a\u0000${CANARY}`;

/** Bodies no route can take: nesting inside the size limit, JSON that is not an object, broken JSON, NUL text. */
const hostileBodies: Record<string, string> = {
  'an array nested 10,000 deep': deepArray(10_000),
  'an object nested 5,000 deep': deepObject(5_000),
  'JSON null': 'null',
  'a bare JSON string': JSON.stringify(CANARY),
  'broken JSON': `{"name": "${CANARY}"`,
  'NUL in a value': JSON.stringify({ name: nul, userId: nul, event: nul, email: nul }),
  'NUL in a key': `{"na\\u0000me": "${CANARY}", "userId": "u", "event": "e", "email": "a@example.com"}`,
};

/** Every route that takes a JSON body, with the method and a path valid but for the body. */
const bodyRoutes: [ServiceName, string, string][] = [
  ['ingestion', 'POST', '/v1/track'],
  ['ingestion', 'POST', '/v1/identify'],
  ['ingestion', 'POST', '/v1/batch'],
  ['ingestion', 'POST', '/v1/leads'],
  ['ingestion', 'POST', '/v1/admin/workspaces'],
  ['ingestion', 'POST', `/v1/admin/workspaces/ws_${run}/keys`],
  ['ingestion', 'POST', `/v1/admin/workspaces/ws_${run}/clients`],
  ['leads', 'PUT', '/v1/scoring-model'],
  ['leads', 'PUT', '/v1/routing-rules'],
  ['leads', 'POST', '/v1/leads/email:ada%40example.com/accept'],
  ['leads', 'POST', '/v1/leads/email:ada%40example.com/disqualify'],
];

describe('hostile bodies at every JSON entry', () => {
  it.each(bodyRoutes)('%s %s %s refuses each with a clean 4xx', async (service, method, path) => {
    for (const [what, body] of Object.entries(hostileBodies)) {
      const answer = await send(service, method, path, body, { 'content-type': 'application/json' });
      expectRefusedCleanly(answer, `${what} to ${method} ${path}`);
    }
  });

  it('a scoring model in YAML nested thousands deep is refused as too deep, not as "not valid JSON"', async () => {
    const yaml = `mqlThreshold: ${'['.repeat(5_000)}${']'.repeat(5_000)}\n`;
    const answer = await send('leads', 'PUT', '/v1/scoring-model', yaml, {
      'content-type': 'application/yaml',
    });
    expectRefusedCleanly(answer, 'deep YAML');
    expect(answer.text).not.toContain('not valid JSON');
  });
});

describe('hostile path parameters and query strings', () => {
  const paths: [ServiceName, string, string][] = [
    ['leads', 'GET', `/v1/contacts/email:a%00${CANARY}`],
    ['leads', 'POST', `/v1/leads/a%00${CANARY}/accept`],
    ['leads', 'GET', `/v1/scoring-model/versions/1%00${CANARY}`],
    ['ingestion', 'GET', `/v1/admin/workspaces/ws%00${CANARY}/keys`],
    ['ingestion', 'DELETE', `/v1/admin/workspaces/ws_${run}/keys/k%00${CANARY}`],
    ['reporting', 'GET', `/v1/reports/event-counts?from=%00${CANARY}`],
    ['ingestion', 'GET', `/v1/admin/workspaces?x=%00${CANARY}`],
  ];
  it.each(paths)('%s %s %s: a NUL is a 400 naming the parameter', async (service, method, path) => {
    const answer = await send(service, method, path, method === 'GET' ? undefined : '{}', {
      'content-type': 'application/json',
    });
    expectRefusedCleanly(answer, `${method} ${path}`);
    expect(answer.status).toBe(400);
    const fields = (answer.json as { problems: { field: string }[] }).problems.map((p) => p.field);
    expect(fields.some((field) => field.startsWith('path.') || field.startsWith('query.'))).toBe(true);
  });

  it('a path that does not decode, and a route that does not exist, are clean 4xx too', async () => {
    expectRefusedCleanly(await send('leads', 'GET', `/v1/contacts/%E0%A4%A${CANARY}`), 'undecodable path');
    expectRefusedCleanly(await send('reporting', 'GET', `/v1/${CANARY}`), 'unknown route');
  });
});

describe('NUL at the edge: refused with the field named, never accepted and then lost', () => {
  const cases: [string, string, unknown, string][] = [
    ['a trait', '/v1/identify', { userId: 'u1', traits: { name: 'Ada\u0000' } }, 'traits.name'],
    [
      'an identify email',
      '/v1/identify',
      { userId: 'u1', traits: { email: 'a\u0000@x.io' } },
      'traits.email',
    ],
    ['an event name', '/v1/track', { userId: 'u1', event: 'Signed\u0000Up' }, 'event'],
    ['a userId', '/v1/track', { userId: 'u\u00001', event: 'Signed Up' }, 'userId'],
    [
      'a property key',
      '/v1/track',
      { userId: 'u1', event: 'E', properties: { 'k\u0000': 1 } },
      'properties.k\\u0000',
    ],
    ['a lead form field', '/v1/leads', { email: 'ada@example.com', firstName: 'A\u0000da' }, 'firstName'],
    [
      'a lead form extra field',
      '/v1/leads',
      { email: 'ada@example.com', fields: { note: '\u0000' } },
      'fields.note',
    ],
  ];
  it.each(cases)('NUL in %s → 400 naming %s', async (_what, path, body, field) => {
    const answer = await send('ingestion', 'POST', path, JSON.stringify(body), {
      'content-type': 'application/json',
    });
    expect(answer.status).toBe(400);
    expect(answer.json).toMatchObject({
      error: 'invalid_request',
      problems: [{ field, reason: expect.stringContaining('must not contain the NUL character') }],
    });
  });
});

describe('browser and discovery surface', () => {
  it('answers a CORS preflight on the tracking and lead routes, and on no other', async () => {
    const preflight = (service: ServiceName, path: string) =>
      send(service, 'OPTIONS', path, undefined, {
        origin: 'https://shop.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      });
    for (const path of ['/v1/track', '/v1/batch', '/v1/page', '/v1/leads']) {
      const answer = await preflight('ingestion', path);
      expect({ path, status: answer.status }).toEqual({ path, status: 204 });
      expect(answer.headers.get('access-control-allow-origin')).toBe('*');
      expect(answer.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    }
    const admin = await preflight('ingestion', '/v1/admin/workspaces');
    expect(admin.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('sends no X-Powered-By from any service', async () => {
    for (const name of ['ingestion', 'leads', 'reporting'] as const) {
      const answer = await send(name, 'GET', '/health/live');
      expect({ name, poweredBy: answer.headers.get('x-powered-by') }).toEqual({ name, poweredBy: null });
    }
  });

  it('serves the public API description to anyone and the admin routes only to the operator', async () => {
    const running = services.ingestion;
    if (!running) throw new Error('ingestion is not running');
    const pub = (await (await fetch(`${running.url}/docs/openapi.json`)).json()) as { paths: object };
    expect(Object.keys(pub.paths)).toContain('/v1/track');
    expect(Object.keys(pub.paths).filter((p) => p.startsWith('/v1/admin'))).toEqual([]);

    const anonymous = await fetch(`${running.url}/docs/admin/openapi.json`);
    expect(anonymous.status).toBe(401);
    const withKey = await fetch(`${running.url}/docs/admin/openapi.json`, {
      headers: { authorization: basic },
    });
    expect(withKey.status).toBe(401);
    const operator = await fetch(`${running.url}/docs/admin/openapi.json`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    expect(operator.status).toBe(200);
    const whole = (await operator.json()) as { paths: object };
    expect(Object.keys(whole.paths)).toContain('/v1/admin/workspaces');
  });

  it('lets a form-urlencoded lead form grant the workspace’s required consent', async () => {
    const form = new URLSearchParams({
      email: `form-${run}@example.com`,
      'consents[email_marketing]': 'true',
      'consents[privacy_policy]': 'on',
    });
    const answer = await send('ingestion', 'POST', '/v1/leads', form.toString(), {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ success: true });
  });
});
