/**
 * The connections API on the real FerretDB (a database of its own) against the HubSpot fake: a connection created
 * under connections:admin with its credentials sealed at rest and never returned, tested with a real call, paused,
 * resumed and deleted; bad requests refused with field errors; one workspace never seeing another's connections.
 */
import { Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Connection } from 'mongoose';
import { WORKSPACE_KEYS, parseKeyRing, type Principal, type WorkspaceKeyResolver } from '@tributary/access';
import { SERVICE_CONFIG } from '@tributary/config';
import { FakeHubSpot } from '@tributary/sandbox';
import { STORE_CONNECTION, connectServiceStore } from '@tributary/store';
import { testStackEndpoints, uniqueId } from '@tributary/testing';
import { CONNECTOR_REGISTRY, connectorRegistry } from '../connectors/connector-registry';
import {
  CHANGE_CURSOR_MODEL,
  CONNECTION_MODEL,
  RECORD_VERSION_MODEL,
  changeCursorModel,
  connectionModel,
  recordVersionModel,
  type ConnectionDoc,
} from './connection.models';
import { ConnectionsController } from './connections.controller';
import { Connections } from './connections.service';

const run = uniqueId('conn');
const ws = `ws_${run}`;
const TOKEN = `pat-na1-${run}`;
let connection: Connection;
let app: INestApplication;
let url: string;
let hubspot: FakeHubSpot;

const principals: Record<string, Principal> = {
  admin: { workspaceId: ws, scopes: ['connections:admin'], credentialId: 'k-admin' },
  reader: { workspaceId: ws, scopes: ['connections:read'], credentialId: 'k-reader' },
  tracker: { workspaceId: ws, scopes: ['track:write'], credentialId: 'k-tracker' },
  elsewhere: { workspaceId: `${ws}_b`, scopes: ['*'], credentialId: 'k-elsewhere' },
};
const keys: WorkspaceKeyResolver = { resolve: (key) => principals[key] };
const config = { SYNC_CREDENTIALS_KEYS: parseKeyRing(`k1:${'s'.repeat(40)}`) };

beforeAll(async () => {
  hubspot = new FakeHubSpot({ accessTokens: { [TOKEN]: 'app-1' } });
  const hubspotUrl = await hubspot.start();
  connection = await connectServiceStore(testStackEndpoints().mongoUrl, `test_${run}_sync`);
  @Module({
    controllers: [ConnectionsController],
    providers: [
      Connections,
      { provide: STORE_CONNECTION, useFactory: () => connection },
      { provide: WORKSPACE_KEYS, useValue: keys },
      { provide: SERVICE_CONFIG, useValue: config },
      { provide: CONNECTOR_REGISTRY, useValue: connectorRegistry({ hubspot: hubspotUrl }) },
      { provide: CONNECTION_MODEL, useFactory: () => connectionModel(connection) },
      { provide: CHANGE_CURSOR_MODEL, useFactory: () => changeCursorModel(connection) },
      { provide: RECORD_VERSION_MODEL, useFactory: () => recordVersionModel(connection) },
    ],
  })
  class ConnectionsApiModule {}
  app = await NestFactory.create(ConnectionsApiModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  url = `${(await app.getUrl()).replace('[::1]', '127.0.0.1')}/v1/connections`;
});

afterAll(async () => {
  await app?.close();
  await hubspot?.stop();
  await connection?.dropDatabase();
  await connection?.close();
});

const call = (key: string, path = '', init: RequestInit & { json?: unknown } = {}) =>
  fetch(`${url}${path}`, {
    ...init,
    ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
  });
const create = (key: string, body: unknown) => call(key, '', { method: 'POST', json: body });
const HUBSPOT_CONNECTION = {
  connector: 'hubspot',
  name: 'Our HubSpot portal',
  objects: ['contacts', 'companies'],
  credentials: { accessToken: TOKEN },
};

describe('connections API', () => {
  it('creates a connection whose credentials are sealed at rest and never returned', async () => {
    const res = await create('admin', HUBSPOT_CONNECTION);
    expect(res.status).toBe(201);
    const text = await res.text();
    expect(text).not.toContain(TOKEN);
    const view = JSON.parse(text) as { id: string; status: string; objects: string[] };
    expect(view).toMatchObject({
      status: 'active',
      objects: ['contacts', 'companies'],
      pollIntervalSeconds: 60,
    });
    const stored = await connection.collection<ConnectionDoc>('sync_connections').findOne({ _id: view.id });
    expect(stored?.credentials).toMatch(/^v2\.k1\./);
    expect(JSON.stringify(stored)).not.toContain(TOKEN);
    const listed = await (await call('reader')).text();
    expect(listed).toContain(view.id);
    expect(listed).not.toContain(TOKEN);
  });

  it('tests a connection with a real call: ok with the right token, the vendor’s reason with a wrong one', async () => {
    const good = (await (await create('admin', HUBSPOT_CONNECTION)).json()) as { id: string };
    const calls = hubspot.count('/crm/v3/objects/contacts');
    const tested = await call('admin', `/${good.id}/test`, { method: 'POST' });
    expect(tested.status).toBe(200);
    expect(await tested.json()).toMatchObject({ lastTest: { ok: true, reason: null } });
    expect(hubspot.count('/crm/v3/objects/contacts')).toBe(calls + 1);

    const bad = (await (
      await create('admin', { ...HUBSPOT_CONNECTION, credentials: { accessToken: 'pat-na1-revoked' } })
    ).json()) as { id: string };
    const failed = (await (await call('admin', `/${bad.id}/test`, { method: 'POST' })).json()) as {
      lastTest: { ok: boolean; reason: string };
    };
    expect(failed.lastTest.ok).toBe(false);
    expect(failed.lastTest.reason).toMatch(/^HTTP 401 INVALID_AUTHENTICATION/);
    expect(failed.lastTest.reason).not.toContain('pat-na1-revoked');
  });

  it('refuses bad requests with the field and the reason', async () => {
    const res = await create('admin', {
      connector: 'hubspot',
      name: '',
      objects: ['deals'],
      credentials: { accessToken: TOKEN, password: 'x' },
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: { field: string }[] };
    expect(body.errors.map((e) => e.field).sort()).toEqual(['credentials.password', 'name']);
    const objects = (await (await create('admin', { ...HUBSPOT_CONNECTION, objects: ['deals'] })).json()) as {
      errors: { field: string; reason: string }[];
    };
    expect(objects.errors).toEqual([
      { field: 'objects', reason: expect.stringContaining("no object 'deals'") },
    ]);
    const connector = (await (
      await create('admin', { ...HUBSPOT_CONNECTION, connector: 'pipedrive' })
    ).json()) as {
      errors: { field: string }[];
    };
    expect(connector.errors).toEqual([{ field: 'connector', reason: "no connector 'pipedrive'" }]);
    // Each connector checks its own credentials: Mailchimp's need an API key with its data center and a list.
    const mailchimp = (await (
      await create('admin', {
        connector: 'mailchimp',
        name: 'Newsletter',
        objects: ['members'],
        credentials: { apiKey: 'not-a-key', accessToken: TOKEN },
      })
    ).json()) as { errors: { field: string; reason: string }[] };
    expect(mailchimp.errors.map((e) => e.field).sort()).toEqual([
      'credentials.accessToken',
      'credentials.apiKey',
      'credentials.listId',
    ]);
    expect(JSON.stringify(mailchimp)).not.toContain(TOKEN);
  });

  it('pauses, resumes and deletes; needs connections:admin to change and a read scope to read', async () => {
    const { id } = (await (await create('admin', HUBSPOT_CONNECTION)).json()) as { id: string };
    expect((await create('reader', HUBSPOT_CONNECTION)).status).toBe(403);
    expect((await call('tracker')).status).toBe(403);
    expect((await call('reader', `/${id}/pause`, { method: 'POST' })).status).toBe(403);
    expect(await (await call('admin', `/${id}/pause`, { method: 'POST' })).json()).toMatchObject({
      status: 'paused',
    });
    expect(await (await call('reader', `/${id}`)).json()).toMatchObject({
      status: 'paused',
      // Nothing polled it here (no change capture in this module): its cursors stand at the start.
      capture: {
        contacts: { readUpTo: null, lastSuccessAt: null, lastError: null, published: 0 },
        companies: { readUpTo: null, lastSuccessAt: null, lastError: null, published: 0 },
      },
    });
    expect(await (await call('admin', `/${id}/resume`, { method: 'POST' })).json()).toMatchObject({
      status: 'active',
    });
    expect((await call('admin', `/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await call('admin', `/${id}`)).status).toBe(404);
    expect(await connection.collection('sync_change_cursors').countDocuments({ connectionId: id })).toBe(0);
  });

  it('never shows or changes another workspace’s connection', async () => {
    const { id } = (await (await create('admin', HUBSPOT_CONNECTION)).json()) as { id: string };
    expect((await call('elsewhere', `/${id}`)).status).toBe(404);
    expect((await call('elsewhere', `/${id}/test`, { method: 'POST' })).status).toBe(404);
    expect((await call('elsewhere', `/${id}`, { method: 'DELETE' })).status).toBe(404);
    expect(await (await call('elsewhere')).json()).toEqual({ connections: [] });
    expect((await call('admin', `/${id}`)).status).toBe(200);
    expect((await call('admin', '/not-an-id')).status).toBe(400);
  });
});
