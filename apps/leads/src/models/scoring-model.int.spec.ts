/**
 * Scoring models on the real FerretDB (a database of its own): versions append, concurrent writers on two replicas
 * get distinct versions, a workspace without a model scores on the default, the per-replica cache is bounded by its
 * TTL, and the HTTP API takes YAML or JSON under the right scopes.
 */
import { Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Connection } from 'mongoose';
import { STORE_CONNECTION, connectServiceStore } from '@tributary/store';
import { WORKSPACE_KEYS, type Principal, type WorkspaceKeyResolver } from '@tributary/access';
import { testStackEndpoints, uniqueId } from '@tributary/testing';
import { DEFAULT_SCORING_MODEL, validateScoringModel, type ScoringModel } from './scoring-model';
import { captureScoringModelBody } from './scoring-model-body';
import { ScoringModelController } from './scoring-model.controller';
import {
  ScoringModelStore,
  scoringModelDocs,
  scoringModelHeads,
  scoringModelProviders,
  type ScoringModelStoreOptions,
} from './scoring-model.store';

const run = uniqueId('sm');
let connection: Connection;

function modelWith(threshold: number): ScoringModel {
  const result = validateScoringModel({
    mqlThreshold: threshold,
    engagementHalfLifeDays: 14,
    fit: [{ id: 'senior-title', attribute: 'title', matches: '\\bvp\\b', points: 20 }],
    engagement: [{ id: 'anything', when: {}, points: 1 }],
  });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.model;
}

/** One scoring replica's store; replicas share the database, not their caches. */
function replica(options: ScoringModelStoreOptions = { cacheTtlMs: 0 }): ScoringModelStore {
  return new ScoringModelStore(scoringModelDocs(connection), scoringModelHeads(connection), options);
}

beforeAll(async () => {
  connection = await connectServiceStore(testStackEndpoints().mongoUrl, `test_${run}_scoring_models`);
});

afterAll(async () => {
  await connection?.dropDatabase();
  await connection?.close();
});

describe('ScoringModelStore', () => {
  it('serves the built-in default as version 0 until the workspace stores a model', async () => {
    const store = replica();
    expect(await store.current(`ws_${run}_none`)).toEqual({ version: 0, model: DEFAULT_SCORING_MODEL });
    expect(await store.get(`ws_${run}_none`, 0)).toEqual({ version: 0, model: DEFAULT_SCORING_MODEL });
    expect(await store.get(`ws_${run}_none`, 1)).toBeUndefined();
    expect(await store.list(`ws_${run}_none`)).toEqual([]);
  });

  it('appends versions 1, 2, … and keeps every one readable', async () => {
    const ws = `ws_${run}_append`;
    const store = replica();
    expect(await store.append(ws, modelWith(40), 'key-1')).toEqual({ version: 1, model: modelWith(40) });
    expect(await store.append(ws, modelWith(60), 'key-2')).toMatchObject({ version: 2 });
    expect(await store.current(ws)).toEqual({ version: 2, model: modelWith(60) });
    expect(await store.get(ws, 1)).toEqual({ version: 1, model: modelWith(40) });
    expect((await store.list(ws)).map((v) => [v.version, v.createdBy])).toEqual([
      [1, 'key-1'],
      [2, 'key-2'],
    ]);
    // Another workspace is untouched.
    expect(await store.current(`ws_${run}_other`)).toMatchObject({ version: 0 });
  });

  it('keeps an empty catch-all condition through a round trip', async () => {
    const ws = `ws_${run}_catchall`;
    await replica().append(ws, modelWith(40));
    expect((await replica().current(ws)).model.engagement[0]?.when).toEqual({});
  });

  it('gives concurrent writers on two replicas distinct versions, and the newest becomes current', async () => {
    const ws = `ws_${run}_race`;
    const [a, b] = [replica(), replica()];
    const written = await Promise.all(
      [1, 2, 3, 4, 5, 6].map((n) => (n % 2 ? a : b).append(ws, modelWith(10 * n))),
    );
    const versions = written.map((w) => w.version).sort((x, y) => x - y);
    expect(versions).toEqual([1, 2, 3, 4, 5, 6]);
    const newest = written.find((w) => w.version === 6);
    expect(await a.current(ws)).toEqual(newest);
    expect(await b.current(ws)).toEqual(newest);
    expect((await a.list(ws)).map((v) => v.version)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('skips a version a crashed writer claimed without moving the head', async () => {
    const ws = `ws_${run}_crash`;
    await scoringModelDocs(connection).create({
      _id: `${ws}:1`,
      workspaceId: ws,
      version: 1,
      model: modelWith(99),
      createdAt: new Date(),
    });
    const store = replica();
    expect(await store.current(ws)).toMatchObject({ version: 0 });
    expect(await store.append(ws, modelWith(40))).toMatchObject({ version: 2 });
    expect(await store.current(ws)).toEqual({ version: 2, model: modelWith(40) });
  });

  it('caches current() per replica for the TTL: the writer sees a new model at once, others after expiry', async () => {
    const ws = `ws_${run}_cache`;
    let clock = 1_000_000;
    const writer = replica({ cacheTtlMs: 5000, now: () => clock });
    const other = replica({ cacheTtlMs: 5000, now: () => clock });
    expect(await writer.current(ws)).toMatchObject({ version: 0 });
    expect(await other.current(ws)).toMatchObject({ version: 0 });

    await writer.append(ws, modelWith(40));
    expect(await writer.current(ws)).toMatchObject({ version: 1 });
    clock += 4999;
    expect(await other.current(ws)).toMatchObject({ version: 0 });
    clock += 2;
    expect(await other.current(ws)).toMatchObject({ version: 1 });
  });
});

describe('scoring model API', () => {
  const ws = `ws_${run}_api`;
  const principals: Record<string, Principal> = {
    admin: { workspaceId: ws, scopes: ['scoring:admin'], credentialId: 'k-admin' },
    reader: { workspaceId: ws, scopes: ['contacts:read'], credentialId: 'k-reader' },
    tracker: { workspaceId: ws, scopes: ['track:write'], credentialId: 'k-tracker' },
    elsewhere: { workspaceId: `${ws}_b`, scopes: ['*'], credentialId: 'k-elsewhere' },
  };
  const keys: WorkspaceKeyResolver = { resolve: (key) => principals[key] };
  let app: INestApplication;
  let url: string;

  @Module({
    controllers: [ScoringModelController],
    providers: [
      ...scoringModelProviders({ cacheTtlMs: 5000 }),
      { provide: STORE_CONNECTION, useFactory: () => connection },
      { provide: WORKSPACE_KEYS, useValue: keys },
    ],
  })
  class ScoringModelApiModule {}

  beforeAll(async () => {
    app = await NestFactory.create(ScoringModelApiModule, { logger: false });
    captureScoringModelBody(app);
    await app.listen(0, '127.0.0.1');
    url = `${(await app.getUrl()).replace('[::1]', '127.0.0.1')}/v1/scoring-model`;
  });

  afterAll(async () => {
    await app?.close();
  });

  const as = (key: string, init: RequestInit = {}, path = '') =>
    fetch(`${url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${key}`, ...(init.headers as Record<string, string> | undefined) },
    });
  const put = (key: string, body: string, contentType: string) =>
    as(key, { method: 'PUT', body, headers: { 'content-type': contentType } });

  const YAML = `
mqlThreshold: 40
engagementHalfLifeDays: 14
fit:
  - { id: senior-title, attribute: title, matches: "\\\\b(vp|director)\\\\b", points: 20 }
engagement:
  - { id: pricing-page, when: { event: Pricing Page Viewed }, points: 10, cap: 30 }
`;

  it('stores a YAML model as version 1 and a JSON one as version 2', async () => {
    const first = await put('admin', YAML, 'application/yaml');
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({
      version: 1,
      model: {
        mqlThreshold: 40,
        fit: [{ id: 'senior-title', matches: '\\b(vp|director)\\b' }],
        engagement: [{ id: 'pricing-page', when: { event: ['Pricing Page Viewed'] }, cap: 30 }],
      },
    });
    const second = await put(
      'admin',
      JSON.stringify({ mqlThreshold: 70, engagementHalfLifeDays: 30 }),
      'application/json',
    );
    expect(await second.json()).toMatchObject({ version: 2, model: { mqlThreshold: 70 } });
  });

  it('answers an invalid model with every problem and stores nothing', async () => {
    const before = await (await as('admin')).json();
    const res = await put(
      'admin',
      'mqlThreshold: 40\nengagementHalfLifeDays: 14\nfit:\n  - { id: x, attribute: title, matches: "(vp", points: 5 }\n  - { id: x, attribute: shoeSize, min: 1, points: 5 }\n',
      'text/yaml',
    );
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; errors: { field: string }[] };
    expect(body.error).toBe('invalid_scoring_model');
    expect(body.errors.map((e) => e.field).sort()).toEqual(['fit[0].matches', 'fit[1].attribute']);
    expect(await (await as('admin')).json()).toEqual(before);
  });

  it('answers a YAML syntax error as invalid_scoring_model with the line', async () => {
    const res = await put('admin', 'mqlThreshold: [40\n', 'application/yaml');
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: 'invalid_scoring_model',
      errors: [{ field: '(body)', reason: expect.stringMatching(/^not valid YAML: .*line 2/) as unknown }],
    });
  });

  it('refuses other content types', async () => {
    expect((await put('admin', YAML, 'text/plain')).status).toBe(415);
  });

  it('lets contacts:read read but not write, and refuses keys with neither scope', async () => {
    const current = await as('reader');
    expect(current.status).toBe(200);
    expect(await current.json()).toMatchObject({ version: 2, model: { mqlThreshold: 70 } });
    expect((await put('reader', YAML, 'application/yaml')).status).toBe(403);
    expect((await as('tracker')).status).toBe(403);
    expect((await as('nobody')).status).toBe(401);
  });

  it('serves any stored version, the list of versions, and 404 for one that does not exist', async () => {
    const v1 = await as('reader', {}, '/versions/1');
    expect(await v1.json()).toMatchObject({ version: 1, model: { mqlThreshold: 40 } });
    const list = (await (await as('reader', {}, '/versions')).json()) as { versions: { version: number }[] };
    expect(list.versions.map((v) => v.version)).toEqual([1, 2]);
    expect((await as('reader', {}, '/versions/0')).status).toBe(200);
    expect((await as('reader', {}, '/versions/9')).status).toBe(404);
    expect((await as('reader', {}, '/versions/abc')).status).toBe(404);
  });

  it('keeps workspaces apart: another workspace still has the default', async () => {
    expect(await (await as('elsewhere')).json()).toEqual({ version: 0, model: DEFAULT_SCORING_MODEL });
  });
});
