/**
 * The routing rules API on FerretDB: validation errors by field, versions that concurrent PUTs never share,
 * scopes and workspace isolation. Only the controller and its store are mounted (no Kafka needed).
 */
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Connection } from 'mongoose';
import { WORKSPACE_KEYS, type Principal, type WorkspaceKeyResolver } from '@tributary/access';
import { connectServiceStore } from '@tributary/store';
import { testStackEndpoints, uniqueId } from '@tributary/testing';
import { parseRoutingRules } from './routing-rules';
import { RoutingRulesController } from './routing-rules.controller';
import { RoutingRulesStore } from './routing-rules.store';
import { ROUTING_RULES_MODEL, routingRulesModel } from './routing.model';

const run = uniqueId('rr');
const workspace = `ws_rr_${run}`;
let store: Connection;
let app: INestApplication;
let url: string;

const principals: Record<string, Principal> = {
  'admin-key': { workspaceId: workspace, scopes: ['routing:admin', 'routing:read'], credentialId: 'admin' },
  'reader-key': { workspaceId: workspace, scopes: ['routing:read'], credentialId: 'reader' },
  'writer-key': { workspaceId: workspace, scopes: ['routing:admin'], credentialId: 'writer' },
  'contacts-key': { workspaceId: workspace, scopes: ['contacts:read'], credentialId: 'contacts' },
  'other-key': { workspaceId: `${workspace}_other`, scopes: ['*'], credentialId: 'other' },
};
const keys: WorkspaceKeyResolver = { resolve: (key) => principals[key] };

class RoutingApiModule {}

beforeAll(async () => {
  store = await connectServiceStore(testStackEndpoints().mongoUrl, `test_${run}_leads`);
  app = await NestFactory.create(
    {
      module: RoutingApiModule,
      controllers: [RoutingRulesController],
      providers: [
        RoutingRulesStore,
        { provide: ROUTING_RULES_MODEL, useValue: routingRulesModel(store) },
        { provide: WORKSPACE_KEYS, useValue: keys },
      ],
    },
    { logger: false },
  );
  await app.listen(0, '127.0.0.1');
  url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
});

afterAll(async () => {
  await app?.close();
  await store?.db?.dropDatabase();
  await store?.close();
});

const RULES = {
  acceptWithinMinutes: 15,
  teams: [
    {
      id: 'emea',
      members: [{ ownerId: 'rep-anna', capacity: 20, timezone: 'Europe/Berlin' }],
    },
    { id: 'na', members: [{ ownerId: 'rep-carl', capacity: 20, timezone: 'America/New_York' }] },
  ],
  rules: [{ id: 'emea-territory', teamId: 'emea', when: { countries: ['DE'] } }],
  fallbackTeamId: 'na',
};

async function call(
  method: 'GET' | 'PUT',
  key: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${url}/v1/routing-rules`, {
    method,
    headers: {
      authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}`,
      'content-type': 'application/json',
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: await res.json() };
}

describe('routing rules API', () => {
  it('says a workspace without rules does not route', async () => {
    expect(await call('GET', 'admin-key')).toEqual({
      status: 404,
      json: expect.objectContaining({ error: 'no_routing_rules' }),
    });
  });

  it('refuses invalid rules with every bad field and stores nothing', async () => {
    const res = await call('PUT', 'admin-key', {
      ...RULES,
      rules: [{ id: 'emea-territory', teamId: 'apac', when: {} }],
      teams: [{ ...RULES.teams[0], members: [{ ownerId: 'rep-anna', capacity: 20, timezone: 'Berlin' }] }],
    });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({
      error: 'invalid_routing_rules',
      errors: expect.arrayContaining([
        { field: 'teams.0.members.0.timezone', reason: expect.stringContaining('IANA') },
        { field: 'rules.0.teamId', reason: "no team 'apac'" },
        { field: 'fallbackTeamId', reason: "no team 'na'" },
      ]),
    });
    expect((await call('GET', 'admin-key')).status).toBe(404);
  });

  it('stores each PUT as the next version and serves the newest', async () => {
    expect(await call('PUT', 'admin-key', RULES)).toEqual({
      status: 200,
      json: { version: 1, rules: RULES },
    });
    const second = { ...RULES, acceptWithinMinutes: 5 };
    expect((await call('PUT', 'admin-key', second)).json).toMatchObject({ version: 2 });
    expect(await call('GET', 'reader-key')).toEqual({ status: 200, json: { version: 2, rules: second } });
    // History is kept, like model versions.
    expect(await new RoutingRulesStore(routingRulesModel(store)).version(workspace, 1)).toMatchObject({
      rules: RULES,
    });
  });

  it('gives concurrent PUTs distinct versions, the highest one current', async () => {
    const answers = await Promise.all(
      [1, 2, 3, 4, 5].map((minutes) => call('PUT', 'admin-key', { ...RULES, acceptWithinMinutes: minutes })),
    );
    const versions = answers.map((a) => (a.json as { version: number }).version);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(new Set(versions).size).toBe(5);
    const current = (await call('GET', 'admin-key')).json as { version: number };
    expect(current.version).toBe(Math.max(...versions));
  });

  it('needs routing:admin to change rules and keeps workspaces apart', async () => {
    expect((await call('PUT', 'reader-key', RULES)).status).toBe(403);
    // Reading takes routing:read or routing:admin, nothing else.
    expect((await call('GET', 'writer-key')).status).toBe(200);
    expect((await call('GET', 'contacts-key')).status).toBe(403);
    expect((await call('GET', 'other-key')).status).toBe(404);
    expect((await call('GET', 'nobody')).status).toBe(401);
  });

  it('caches the current rules per replica for the TTL: the writer sees new rules at once, others after expiry', async () => {
    const ws = `${workspace}_cache`;
    let clock = 1_000_000;
    const replica = () =>
      new RoutingRulesStore(routingRulesModel(store), { cacheTtlMs: 5000, now: () => clock });
    const writer = replica();
    const other = replica();
    expect(await other.current(ws)).toBeNull();

    const parsed = parseRoutingRules(RULES);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    await writer.put(ws, parsed.rules);
    expect(await writer.current(ws)).toMatchObject({ version: 1 });
    clock += 4999;
    expect(await other.current(ws)).toBeNull();
    clock += 2;
    expect(await other.current(ws)).toMatchObject({ version: 1 });
  });
});
