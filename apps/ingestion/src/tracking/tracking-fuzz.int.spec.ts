/**
 * Generated malformed input against every tracking endpoint: each of ≥ 1,000 bodies per endpoint gets a 4xx JSON
 * error naming what is wrong, or — inside a batch — is listed as rejected (and kept on `ingestion.rejected`), never a
 * 5xx or a silent 200; the service stays up.
 */
import fc from 'fast-check';
import { stopTelemetry } from '@tributary/observability';
import { startService, type RunningService } from '@tributary/runtime';
import { readAnswer, testServiceEnv, uniqueId, type ReadAnswer } from '@tributary/testing';
import { IngestionModule } from '../app.module';
import { createCredentialRequest, createWorkspaceRequest } from '../access/admin-requests';
import { loadIngestionConfig } from '../config';

const run = uniqueId('fuzz');
const writeKey = `fuzz-key-${run}`;
const adminToken = `fuzz-admin-token-${run}-0123456789abcdef`;
const basic = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
let service: RunningService;

beforeAll(async () => {
  const config = loadIngestionConfig(
    testServiceEnv('ingestion', run, {
      WRITE_KEYS: `${writeKey}:ws_${run}`,
      RATE_LIMIT_PER_SECOND: '100000',
      RATE_LIMIT_BURST: '100000',
    }),
  );
  service = await startService(IngestionModule.forRoot(config), config);
});

afterAll(async () => {
  await service?.close();
  await stopTelemetry();
});

// Wrong for every id and text field: neither string nor number.
const wrongType = fc.oneof(
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
);
const nonJsonBytes = fc
  .uint8Array({ minLength: 1, maxLength: 200 })
  .map((bytes) => Buffer.from(bytes))
  .filter((b) => {
    try {
      JSON.parse(b.toString('utf8'));
      return false;
    } catch {
      return true;
    }
  });
/** A call with no usable identity (neither userId nor anonymousId as a string/number) and junk elsewhere. */
const idlessCall = fc.record(
  {
    userId: wrongType,
    anonymousId: wrongType,
    event: fc.oneof(wrongType, fc.string({ maxLength: 20 })),
    timestamp: fc.oneof(wrongType, fc.string({ maxLength: 20 })),
    properties: fc.oneof(wrongType, fc.string()),
  },
  { requiredKeys: [] },
);
const malformedCall: fc.Arbitrary<string | Buffer> = fc.oneof(
  idlessCall.map((v) => JSON.stringify(v)),
  fc
    .oneof(fc.integer(), fc.string(), fc.array(fc.integer()), fc.constant(null))
    .map((v) => JSON.stringify(v)),
  nonJsonBytes,
);
const malformedBatch: fc.Arbitrary<string | Buffer> = fc.oneof(
  fc.array(idlessCall, { minLength: 1, maxLength: 5 }).map((batch) => JSON.stringify({ batch })),
  fc.record({ batch: fc.oneof(wrongType, fc.string()) }).map((v) => JSON.stringify(v)),
  malformedCall,
);

async function post(
  path: string,
  body: string | Buffer,
  authorization = basic,
  contentType = 'application/json',
): Promise<ReadAnswer> {
  const res = await fetch(`${service.url}${path}`, {
    method: 'POST',
    headers: { authorization, 'content-type': contentType },
    body,
  });
  return readAnswer(res);
}

function expectRefused(res: ReadAnswer, items: number | null): void {
  const body = res.json as { error?: unknown; rejected?: unknown[] } | undefined;
  if (res.status >= 400 && res.status < 500 && typeof body?.error === 'string') return;
  // A batch of malformed items is answered 200 with every item listed as rejected (kept on ingestion.rejected).
  if (res.status === 200 && items !== null && Array.isArray(body?.rejected) && body.rejected.length >= items)
    return;
  throw new Error(
    `expected a 4xx JSON error or every item rejected, got ${res.status}: ${res.text.slice(0, 300)}`,
  );
}

describe('generated malformed tracking calls', () => {
  it.each(['track', 'identify', 'page', 'screen', 'group', 'alias'])(
    'POST /v1/%s refuses 1,000 malformed bodies with a 4xx JSON error',
    async (type) => {
      await fc.assert(
        fc.asyncProperty(malformedCall, async (body) => expectRefused(await post(`/v1/${type}`, body), null)),
        { numRuns: 1_000 },
      );
    },
  );

  it('POST /v1/batch refuses 1,000 malformed batches, or rejects every item in them', async () => {
    await fc.assert(
      fc.asyncProperty(malformedBatch, async (body) => {
        let items: number | null = null;
        try {
          const parsed = JSON.parse(Buffer.from(body).toString('utf8')) as { batch?: unknown };
          items = Array.isArray(parsed?.batch) ? parsed.batch.length : null;
        } catch {
          items = null;
        }
        expectRefused(await post('/v1/batch', body), items);
      }),
      { numRuns: 1_000 },
    );
  });

  // A valid call with NUL somewhere in its text or keys: accepted, it would be lost at the first store it reached.
  const withNul = fc
    .string({ maxLength: 8 })
    .chain((text) => fc.nat({ max: text.length }).map((at) => `${text.slice(0, at)}\u0000${text.slice(at)}`));
  const callWithNul = fc.oneof(
    withNul.map((userId) => ({ type: 'track', userId, event: 'E' })),
    withNul.map((event) => ({ type: 'track', userId: 'u', event })),
    fc.tuple(fc.string({ maxLength: 8 }), withNul).map(([key, value]) => ({
      type: 'identify',
      userId: 'u',
      traits: { [key || 'k']: value },
    })),
    withNul.map((key) => ({ type: 'track', userId: 'u', event: 'E', properties: { nested: { [key]: 1 } } })),
  );
  it('never accepts a call holding NUL: 400 alone, rejected on its own in a batch beside a good call', async () => {
    await fc.assert(
      fc.asyncProperty(callWithNul, async (call) => {
        const single = await post(`/v1/${call.type}`, JSON.stringify(call));
        expect(single.status).toBe(400);
        const batch = await post(
          '/v1/batch',
          JSON.stringify({ batch: [{ type: 'track', userId: 'u', event: 'Good' }, call] }),
        );
        expect(batch.status).toBe(200);
        expect((batch.json as { rejected?: { index: number }[] }).rejected?.map((r) => r.index)).toEqual([1]);
      }),
      { numRuns: 300 },
    );
  });

  /** Whether the admin API would take this JSON body (the same schemas it parses with). */
  const isValidAdminBody = (path: string, body: string | Buffer): boolean => {
    let value: unknown;
    try {
      value = JSON.parse(Buffer.from(body).toString('utf8'));
    } catch {
      return false;
    }
    const schema = path.endsWith('/keys') ? createCredentialRequest : createWorkspaceRequest;
    return schema.safeParse(value ?? {}).success;
  };

  // The access endpoints: admin API (operator token) and the OAuth2 token endpoint (form or JSON bodies).
  const junk: fc.Arbitrary<string | Buffer> = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    fc
      .record(
        {
          name: wrongType,
          scopes: fc.oneof(wrongType, fc.array(fc.string({ maxLength: 12 }), { maxLength: 4 })),
        },
        { requiredKeys: [] },
      )
      .map((v) => JSON.stringify(v)),
    nonJsonBytes,
  );
  it.each([
    ['/v1/admin/workspaces', 'admin'],
    [`/v1/admin/workspaces/ws_${run}/keys`, 'admin'],
    ['/v1/oauth/token', 'oauth'],
  ])('POST %s refuses 1,000 malformed bodies with a 4xx JSON error', async (path, kind) => {
    await fc.assert(
      fc.asyncProperty(
        junk,
        fc.constantFrom('application/json', 'application/x-www-form-urlencoded'),
        async (body, type) => {
          // A well-formed workspace/key request may come out of the generator: it is not malformed input.
          fc.pre(!(kind === 'admin' && type === 'application/json' && isValidAdminBody(path, body)));
          const auth = kind === 'admin' ? `Bearer ${adminToken}` : basic;
          expectRefused(await post(path, body, auth, type), null);
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('the service is still live and ready afterwards', async () => {
    expect((await fetch(`${service.url}/health/live`)).status).toBe(200);
    expect((await fetch(`${service.url}/health/ready`)).status).toBe(200);
  });
});
