import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CredentialScopes } from '@tributary/contracts';
import { hasScopes } from './workspace-auth';
import {
  formatApiKey,
  hashSecret,
  looksLikeJwt,
  newCredentialId,
  newSecret,
  parseApiKey,
  parseScopeParameter,
  secretMatches,
  unknownScopes,
} from './credentials';

describe('API key format', () => {
  it('round-trips trib_<keyId>_<secret> even when the secret contains _ and -', () => {
    for (let i = 0; i < 200; i++) {
      const keyId = newCredentialId();
      const secret = newSecret();
      expect(parseApiKey(formatApiKey(keyId, secret))).toEqual({ keyId, secret });
    }
    expect(parseApiKey(formatApiKey('0123456789abcdef', `a_b-${'c'.repeat(39)}`))).toEqual({
      keyId: '0123456789abcdef',
      secret: `a_b-${'c'.repeat(39)}`,
    });
  });

  it('rejects anything that is not a well-formed key', () => {
    const secret = newSecret();
    for (const bad of [
      'demo-write-key',
      `trib_0123456789abcdeF_${secret}`,
      `trib_0123456789abcde_${secret}`,
      `trib_0123456789abcdef_${secret}x`,
      `trib_0123456789abcdef_${secret.slice(1)}`,
      `xtrib_0123456789abcdef_${secret}`,
      `trib_0123456789abcdef_${secret.slice(0, 42)}=`,
    ]) {
      expect(parseApiKey(bad)).toBeUndefined();
    }
  });

  it('secrets carry 256 random bits and ids do not repeat', () => {
    const secrets = new Set(Array.from({ length: 1000 }, () => newSecret()));
    expect(secrets.size).toBe(1000);
    for (const s of secrets) expect(Buffer.from(s, 'base64url')).toHaveLength(32);
  });
});

describe('secret hashing', () => {
  it('stores a SHA-256 digest, not the secret, and matches only the same secret', () => {
    const secret = newSecret();
    const stored = hashSecret(secret);
    expect(stored).toMatch(/^[0-9a-f]{64}$/);
    expect(stored).not.toContain(secret);
    expect(secretMatches(secret, stored)).toBe(true);
    expect(secretMatches(newSecret(), stored)).toBe(false);
    expect(secretMatches(`${secret}x`, stored)).toBe(false);
    expect(secretMatches(secret, stored.slice(2))).toBe(false);
    expect(secretMatches(secret, 'not-hex')).toBe(false);
  });
});

describe('credential shapes', () => {
  it('tells a JWT from an opaque key', () => {
    expect(looksLikeJwt('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl')).toBe(true);
    expect(looksLikeJwt(formatApiKey(newCredentialId(), newSecret()))).toBe(false);
    expect(looksLikeJwt('demo-write-key')).toBe(false);
    expect(looksLikeJwt('eyJ.a.b.c')).toBe(false);
  });
});

describe('scopes', () => {
  it('knows the scopes the services honour and webhooks:<source>, nothing else', () => {
    expect(
      unknownScopes(['track:write', 'leads:write', 'reports:read', 'admin', 'webhooks:hubspot']),
    ).toEqual([]);
    // Scopes of the services behind the edge: leads' contacts, lead acceptance, scoring and routing APIs.
    expect(
      unknownScopes(['contacts:read', 'leads:accept', 'scoring:admin', 'routing:admin', 'routing:read']),
    ).toEqual([]);
    expect(unknownScopes(['webhooks:shopify', `webhooks:${'a'.repeat(32)}`, 'webhooks:crm-2'])).toEqual([]);
    const refused = [
      'track:read',
      '*',
      'webhooks:',
      'webhooks:Shop!fy',
      'admin ',
      'webhooks:<source>',
      `webhooks:${'a'.repeat(33)}`,
      'webhooks:-x',
      'xadmin',
      'track:writes',
    ];
    expect(unknownScopes(refused)).toEqual(refused);
  });

  it('takes its vocabulary from the generated service list, listing no scope of its own', () => {
    // `<name>` parts expanded, every scope some service honours is known.
    const honoured = CredentialScopes.map((scope: string) => scope.replace(/<[a-z]+>/g, 'example'));
    expect(unknownScopes(honoured)).toEqual([]);
    const sources = readdirSync(__dirname)
      .filter((file) => file.endsWith('.ts') && !file.endsWith('.spec.ts'))
      .map((file) => [file, readFileSync(join(__dirname, file), 'utf8')] as const);
    const listed = sources.flatMap(([file, text]) =>
      CredentialScopes.filter((scope) => text.includes(`'${scope}'`)).map((scope) => `${file}: ${scope}`),
    );
    expect(listed).toEqual([]);
  });

  it('a credential passes only with every required scope (or *)', () => {
    expect(hasScopes(['track:write'], ['track:write'])).toBe(true);
    expect(hasScopes(['leads:write'], ['track:write'])).toBe(false);
    expect(hasScopes(['track:write'], ['track:write', 'admin'])).toBe(false);
    expect(hasScopes(['*'], ['admin'])).toBe(true);
    expect(hasScopes([], [])).toBe(true);
  });

  it('parses the OAuth scope parameter (space-separated, deduplicated)', () => {
    expect(parseScopeParameter(undefined)).toBeUndefined();
    expect(parseScopeParameter('track:write  leads:write track:write')).toEqual([
      'track:write',
      'leads:write',
    ]);
  });
});
