import { liveSecrets } from '@tributary/access';
import {
  apiKeySnapshot,
  clientSnapshot,
  rotatedSecrets,
  type ApiKeyDoc,
  type KeySecret,
} from './credential-store';

describe('key rotation secrets', () => {
  const t0 = Date.UTC(2025, 0, 1);
  const current: KeySecret = { hash: 'old', createdAt: new Date(t0 - 1000), expiresAt: null };

  it('keeps the previous secret for the grace period only', () => {
    const secrets = rotatedSecrets([current], 'new', 60_000, t0);
    expect(secrets.map((s) => [s.hash, s.expiresAt?.getTime() ?? null])).toEqual([
      ['new', null],
      ['old', t0 + 60_000],
    ]);
    expect(liveSecrets(secrets, t0 + 59_999).map((s) => s.hash)).toEqual(['new', 'old']);
    expect(liveSecrets(secrets, t0 + 60_000).map((s) => s.hash)).toEqual(['new']);
  });

  it('drops the previous secret at once with no grace, and never extends an earlier grace', () => {
    expect(rotatedSecrets([current], 'new', 0, t0).map((s) => s.hash)).toEqual(['new']);
    const first = rotatedSecrets([current], 'second', 10_000, t0);
    const second = rotatedSecrets(first, 'third', 60_000, t0 + 1_000);
    expect(second.map((s) => [s.hash, s.expiresAt?.getTime() ?? null])).toEqual([
      ['third', null],
      ['second', t0 + 61_000],
      ['old', t0 + 10_000],
    ]);
  });
});

describe('what access.credentials learns of a stored credential', () => {
  const t0 = Date.UTC(2025, 0, 1);
  const key: ApiKeyDoc = {
    _id: '0123456789abcdef',
    workspaceId: 'ws_a',
    name: 'site',
    scopes: ['track:write'],
    secrets: [
      { hash: 'new', createdAt: new Date(t0 + 5_000), expiresAt: null },
      { hash: 'old', createdAt: new Date(t0), expiresAt: new Date(t0 + 65_000) },
    ],
    createdAt: new Date(t0),
    revokedAt: null,
    revision: 1,
  };

  it('an API key: hashes and expiries, dated by its last change (rotation, then revocation)', () => {
    expect(apiKeySnapshot(key)).toEqual({
      kind: 'api-key',
      keyId: key._id,
      workspaceId: 'ws_a',
      scopes: ['track:write'],
      secrets: [
        { hash: 'new', expiresAt: null },
        { hash: 'old', expiresAt: new Date(t0 + 65_000) },
      ],
      revokedAt: null,
      updatedAt: new Date(t0 + 5_000),
    });
    expect(apiKeySnapshot({ ...key, revokedAt: new Date(t0 + 9_000) }).updatedAt).toEqual(
      new Date(t0 + 9_000),
    );
  });

  it('an OAuth client: not even the hash of its secret', () => {
    const snapshot = clientSnapshot({
      _id: 'client_1',
      workspaceId: 'ws_a',
      name: 'backend',
      scopes: ['leads:write'],
      secretHash: 'a'.repeat(64),
      createdAt: new Date(t0),
      revokedAt: new Date(t0 + 1_000),
    });
    expect(JSON.stringify(snapshot)).not.toContain('a'.repeat(64));
    expect(snapshot).toMatchObject({ clientId: 'client_1', revokedAt: new Date(t0 + 1_000) });
    expect(snapshot.updatedAt).toEqual(new Date(t0 + 1_000));
  });
});
