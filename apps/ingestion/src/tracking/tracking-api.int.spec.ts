/**
 * The Segment-compatible tracking API on the real stack: every call type lands on `tracking.events`, every reject
 * path answers 4xx with the problems, duplicates are stored once, bad batch items land on `ingestion.rejected`,
 * and a producer that cannot reach Kafka makes the API answer 503 + Retry-After (and nothing is marked stored).
 */
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { Kafka } from 'kafkajs';
import { Topics, type IngestionRejected, type TrackingEvent } from '@tributary/contracts';
import { AvroSchemaRegistry, createKafka, EventPublisher } from '@tributary/messaging';
import { startService, type RunningService } from '@tributary/runtime';
import { createLogger, stopTelemetry } from '@tributary/observability';
import { readTopicUntil, testServiceEnv, uniqueId, type ReadRecord } from '@tributary/testing';
import { IngestionModule } from '../app.module';
import { loadIngestionConfig } from '../config';

const run = uniqueId('trk');
const workspace = `ws_trk_${run}`;
const writeKey = `trk-key-${run}`;
const adminToken = `admin-token-${run}-0123456789abcdef0123456789`;
let service: RunningService;
let kafka: Kafka;
let registry: AvroSchemaRegistry;

const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

async function post(
  path: string,
  body: unknown,
  { auth = basic(writeKey), gzip = false }: { auth?: string | null; gzip?: boolean } = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const json = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const res = await fetch(`${service.url}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(auth ? { authorization: auth } : {}),
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    },
    body: gzip ? gzipSync(json) : json,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

/** Decoded tracking events of this run's workspace, read until `done` holds. */
async function trackingEvents(done: (events: TrackingEvent[]) => boolean): Promise<TrackingEvent[]> {
  const events: TrackingEvent[] = [];
  let decoded = 0;
  // Decodes each record once (the reader hands over the whole list every time).
  await readTopicUntil(kafka, Topics.TrackingEvents, async (records: ReadRecord[]) => {
    for (; decoded < records.length; decoded += 1) {
      const event = (await registry.decode(records[decoded]?.value ?? null)) as TrackingEvent;
      if (event.metadata.workspaceId === workspace) events.push(event);
    }
    return done(events);
  });
  return events;
}

beforeAll(async () => {
  const config = loadIngestionConfig(
    testServiceEnv('ingestion', run, {
      WRITE_KEYS: `${writeKey}:${workspace}`,
      ADMIN_TOKEN: adminToken,
      TRACKING_RETRY_AFTER_SECONDS: '7',
    }),
  );
  service = await startService(IngestionModule.forRoot(config), config);
  kafka = createKafka(`trk-${run}`, config.KAFKA_BROKERS, createLogger('trk', 'fatal'));
  registry = new AvroSchemaRegistry(config.SCHEMA_REGISTRY_URL);
});

afterAll(async () => {
  await service?.close();
  await stopTelemetry();
});

describe('tracking API', () => {
  it('stores each call type on tracking.events with the credential workspace, ids and fields', async () => {
    const ids = Object.fromEntries(
      ['track', 'identify', 'page', 'screen', 'group', 'alias'].map((t) => [t, `${t}-${randomUUID()}`]),
    );
    const calls: [string, Record<string, unknown>][] = [
      ['track', { userId: 'ada', event: 'Demo Requested', properties: { plan: 'growth' } }],
      ['identify', { userId: 'ada', traits: { email: 'ada@example.com' } }],
      [
        'page',
        { anonymousId: 'anon-1', name: 'Pricing', category: 'Docs', properties: { path: '/pricing' } },
      ],
      ['screen', { userId: 'ada', name: 'Onboarding' }],
      ['group', { userId: 'ada', groupId: 'acme', traits: { plan: 'enterprise' } }],
      ['alias', { userId: 'ada', previousId: 'anon-1' }],
    ];
    for (const [type, call] of calls) {
      const res = await post(`/v1/${type}`, { ...call, messageId: ids[type] });
      expect({ type, status: res.status, success: res.body['success'] }).toEqual({
        type,
        status: 200,
        success: true,
      });
    }
    const wanted = Object.values(ids);
    const events = await trackingEvents(
      (list) => list.filter((e) => wanted.includes(e.messageId)).length >= 6,
    );
    const byType = Object.fromEntries(
      events.filter((e) => wanted.includes(e.messageId)).map((e) => [e.callType, e]),
    );
    expect(byType['track']).toMatchObject({
      userId: 'ada',
      event: 'Demo Requested',
      propertiesJson: '{"plan":"growth"}',
    });
    expect(byType['identify']).toMatchObject({ traitsJson: '{"email":"ada@example.com"}' });
    expect(byType['page']).toMatchObject({ anonymousId: 'anon-1', name: 'Pricing', category: 'Docs' });
    expect(byType['screen']).toMatchObject({ name: 'Onboarding' });
    expect(byType['group']).toMatchObject({ groupId: 'acme', traitsJson: '{"plan":"enterprise"}' });
    expect(byType['alias']).toMatchObject({ userId: 'ada', previousId: 'anon-1', anonymousId: null });
    for (const event of Object.values(byType)) expect(event.metadata.workspaceId).toBe(workspace);
  });

  it('accepts the write key as Bearer token and as body writeKey, and gzip bodies', async () => {
    const bearer = await post('/v1/track', { userId: 'u', event: 'A' }, { auth: `Bearer ${writeKey}` });
    const inBody = await post('/v1/track', { userId: 'u', event: 'B', writeKey }, { auth: null });
    const gzipped = await post(
      '/v1/batch',
      { batch: [{ type: 'track', userId: 'u', event: 'C' }], writeKey },
      { auth: null, gzip: true },
    );
    expect([bearer.status, inBody.status, gzipped.status]).toEqual([200, 200, 200]);
  });

  it('refuses bad calls with 4xx naming each problem', async () => {
    const cases: [string, unknown, { auth?: string | null; gzip?: boolean }, number, string][] = [
      ['/v1/track', { event: 'No Ids' }, {}, 400, 'userId'],
      ['/v1/track', { userId: 'u' }, {}, 400, 'event'],
      ['/v1/group', { userId: 'u' }, {}, 400, 'groupId'],
      ['/v1/alias', { userId: 'u' }, {}, 400, 'previousId'],
      ['/v1/track', { userId: 'u', event: 'E', properties: 'nope' }, {}, 400, 'properties'],
      ['/v1/track', { userId: 'u', event: 'E', timestamp: 'yesterday' }, {}, 400, 'timestamp'],
      ['/v1/track', { type: 'page', userId: 'u', event: 'E' }, {}, 400, 'type'],
      ['/v1/track', '{"userId":', {}, 400, '(body)'],
      ['/v1/batch', { batch: 'nope' }, {}, 400, 'batch'],
    ];
    for (const [path, body, options, status, field] of cases) {
      const res = await post(path, body, options);
      expect({
        path,
        body,
        status: res.status,
        fields: (res.body['problems'] as { field: string }[]).map((p) => p.field),
      }).toEqual({ path, body, status, fields: expect.arrayContaining([field]) });
    }
  });

  it('refuses an event over 32 KB and a batch over 500 KB, naming the limit', async () => {
    const big = await post('/v1/track', {
      userId: 'u',
      event: 'E',
      properties: { blob: 'x'.repeat(33 * 1024) },
    });
    expect(big.status).toBe(400);
    expect(JSON.stringify(big.body['problems'])).toContain('32 KB');
    const item = { type: 'track', userId: 'u', event: 'E', properties: { blob: 'x'.repeat(20 * 1024) } };
    const huge = await post('/v1/batch', { batch: Array.from({ length: 30 }, () => item) });
    expect(huge.status).toBe(400);
    expect(JSON.stringify(huge.body['problems'])).toContain('500 KB');
  });

  it('refuses a body that is not gzip although it says so', async () => {
    const res = await fetch(`${service.url}/v1/track`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
        authorization: basic(writeKey),
      },
      body: '{"userId":"u","event":"E"}',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      problems: [{ field: 'content-encoding', reason: 'body is not valid gzip' }],
    });
  });

  it('refuses an unknown key with 401 and a key without track:write with 403', async () => {
    const unknown = await post('/v1/track', { userId: 'u', event: 'E' }, { auth: basic('not-a-key') });
    expect(unknown.status).toBe(401);
    const missing = await post('/v1/track', { userId: 'u', event: 'E' }, { auth: null });
    expect(missing.status).toBe(401);

    // A real API key with only leads:write, created through the admin API.
    const admin = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
    const scopedWorkspace = `ws_scoped_${run.toLowerCase()}`;
    const created = await fetch(`${service.url}/v1/admin/workspaces`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ name: 'Scoped', id: scopedWorkspace }),
    });
    expect(created.status).toBeLessThan(300);
    const keyRes = await fetch(`${service.url}/v1/admin/workspaces/${scopedWorkspace}/keys`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ name: 'forms only', scopes: ['leads:write'] }),
    });
    const { apiKey } = (await keyRes.json()) as { apiKey: string };
    const forbidden = await post('/v1/track', { userId: 'u', event: 'E' }, { auth: basic(apiKey) });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toMatchObject({ reason: expect.stringContaining('track:write') });
  });

  it('stores a retried messageId once and answers the retry 200', async () => {
    const messageId = `dup-${randomUUID()}`;
    const call = { userId: 'dup-user', event: 'Trial Started', messageId };
    const first = await post('/v1/track', call);
    const retry = await post('/v1/track', call);
    const inBatch = await post('/v1/batch', {
      batch: [
        { type: 'track', ...call },
        { type: 'track', ...call },
      ],
    });
    expect([first.status, retry.status, inBatch.status]).toEqual([200, 200, 200]);
    expect(retry.body['eventId']).toBe(first.body['eventId']);
    // A distinct marker after the repeats: once it is read, any duplicate would have been read too (same key).
    const marker = `marker-${randomUUID()}`;
    await post('/v1/track', { userId: 'dup-user', event: 'Marker', messageId: marker });
    const events = await trackingEvents((list) => list.some((e) => e.messageId === marker));
    expect(events.filter((e) => e.messageId === messageId)).toHaveLength(1);
  });

  it('stores a retry once when it reaches a replica started after the call, as after a restart', async () => {
    const messageId = `restart-${randomUUID()}`;
    const call = { userId: 'restart-user', event: 'Demo Requested', messageId };
    const first = await post('/v1/track', call);
    expect(first.status).toBe(200);
    // Its own database: the window must come from tracking.calls-stored, not from a store both share.
    const config = loadIngestionConfig(
      testServiceEnv('ingestion', `${run}-b`, {
        WRITE_KEYS: `${writeKey}:${workspace}`,
        ADMIN_TOKEN: adminToken,
      }),
    );
    const replica = await startService(IngestionModule.forRoot(config), config);
    try {
      const retry = await fetch(`${replica.url}/v1/track`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: basic(writeKey) },
        body: JSON.stringify(call),
      });
      expect(retry.status).toBe(200);
      expect(((await retry.json()) as Record<string, unknown>)['eventId']).toBe(first.body['eventId']);
    } finally {
      await replica.close();
    }
    const marker = `marker-${randomUUID()}`;
    await post('/v1/track', { userId: 'restart-user', event: 'Marker', messageId: marker });
    const events = await trackingEvents((list) => list.some((e) => e.messageId === marker));
    expect(events.filter((e) => e.messageId === messageId)).toHaveLength(1);
  });

  it('keeps good batch items and sends bad ones to ingestion.rejected with the reason', async () => {
    const good = `good-${randomUUID()}`;
    const res = await post('/v1/batch', {
      batch: [
        { type: 'track', userId: 'u', event: 'Good', messageId: good },
        { type: 'track', userId: 'u', messageId: 'no-event' },
        { type: 'teleport', userId: 'u' },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body['rejected']).toEqual([
      { index: 1, field: 'batch.1.event', reason: 'Required' },
      { index: 2, field: 'batch.2.type', reason: expect.stringContaining('must be one of') },
    ]);
    await trackingEvents((list) => list.some((e) => e.messageId === good));
    const rejected: IngestionRejected[] = [];
    let decoded = 0;
    await readTopicUntil(kafka, Topics.IngestionRejected, async (records) => {
      for (; decoded < records.length; decoded += 1) {
        const record = (await registry.decode(records[decoded]?.value ?? null)) as IngestionRejected;
        if (record.metadata.workspaceId === workspace) rejected.push(record);
      }
      return rejected.length >= 2;
    });
    const first = rejected.find((r) => r.itemIndex === 1);
    expect(first).toMatchObject({
      route: '/v1/batch',
      contentType: 'application/json',
      reason: 'batch.1.event: Required',
    });
    expect(JSON.parse(first?.body.toString() ?? '{}')).toMatchObject({ messageId: 'no-event' });
  });

  it('rejects a batch item holding NUL or nested too deep on its own; the rest is stored, and deduped, once', async () => {
    const good = [`nul-good-a-${randomUUID()}`, `nul-good-b-${randomUUID()}`];
    const batch = {
      batch: [
        { type: 'track', userId: 'nul-user', event: 'Good', messageId: good[0] },
        { type: 'track', userId: 'nul-user', event: 'Bad', messageId: `nul\u0000${randomUUID()}` },
        { type: 'identify', userId: 'nul-user', traits: { name: 'Ada\u0000' } },
        { type: 'track', userId: 'nul-user', event: 'Deep', properties: { deep: 'DEEP' } },
        { type: 'track', userId: 'nul-user', event: 'Good', messageId: good[1] },
      ],
    };
    // Written out by hand: JSON.stringify itself overflows the stack on 5,000 levels.
    const body = JSON.stringify(batch).replace('"DEEP"', `${'['.repeat(5_000)}"leaf"${']'.repeat(5_000)}`);
    const first = await post('/v1/batch', body);
    expect(first.status).toBe(200);
    expect(first.body['rejected']).toEqual([
      { index: 1, field: 'batch.1.messageId', reason: 'must not contain the NUL character (\\u0000)' },
      { index: 2, field: 'batch.2.traits.name', reason: 'must not contain the NUL character (\\u0000)' },
      {
        index: 3,
        field: expect.stringMatching(/^batch\.3\.properties\.deep(\.0)+$/),
        reason: 'nests deeper than 64 levels',
      },
    ]);
    // The resend is a client retry: the ledger must still know the good items (a NUL id once disabled it).
    const resend = await post('/v1/batch', body);
    expect(resend.status).toBe(200);
    const marker = `nul-marker-${randomUUID()}`;
    await post('/v1/track', { userId: 'nul-user', event: 'Marker', messageId: marker });
    const events = await trackingEvents((list) => list.some((e) => e.messageId === marker));
    expect(good.map((id) => events.filter((e) => e.messageId === id).length)).toEqual([1, 1]);
    expect(
      events.filter((e) => e.userId === 'nul-user' && e.event !== 'Good' && e.event !== 'Marker'),
    ).toEqual([]);
  });

  it('answers 503 with Retry-After when the producer cannot reach Kafka, and stores the retry once it can', async () => {
    const publisher = service.app.get(EventPublisher);
    const messageId = `outage-${randomUUID()}`;
    const call = { userId: 'outage-user', event: 'Webinar Registered', messageId };
    await publisher.disconnect();
    try {
      const down = await post('/v1/track', call);
      expect(down.status).toBe(503);
      expect(down.headers.get('retry-after')).toBe('7');
      expect(down.body).toMatchObject({ error: 'unavailable' });
    } finally {
      await publisher.connect();
    }
    // Not marked stored while down: the client's retry is produced, exactly once.
    const retry = await post('/v1/track', call);
    expect(retry.status).toBe(200);
    const marker = `marker-${randomUUID()}`;
    await post('/v1/track', { userId: 'outage-user', event: 'Marker', messageId: marker });
    const events = await trackingEvents((list) => list.some((e) => e.messageId === marker));
    expect(events.filter((e) => e.messageId === messageId)).toHaveLength(1);
  });
});
