import { ServiceUnavailableException } from '@nestjs/common';
import { StaticWorkspaceKeys } from './workspace-auth';
import { formatApiKey, hashSecret, newSecret } from './credentials';
import type { CredentialDirectory } from './credential-table';
import { SharedCredentials } from './shared-credentials';

const keyId = '0123456789abcdef';
const secret = newSecret();

function setup() {
  let ready = false;
  const directory: CredentialDirectory = {
    isReady: () => ready,
    apiKey: (id) =>
      id === keyId
        ? {
            keyId,
            workspaceId: 'ws_a',
            scopes: ['reports:read'],
            secrets: [{ hash: hashSecret(secret), expiresAt: null }],
            revokedAt: null,
          }
        : undefined,
    oauthClient: () => undefined,
    verificationKey: async () => undefined,
  };
  const credentials = new SharedCredentials(directory, {
    issuer: 'iss',
    audience: 'aud',
    bootstrap: new StaticWorkspaceKeys('demo-write-key:ws_demo'),
  });
  return { credentials, becomeReady: () => (ready = true) };
}

describe('SharedCredentials', () => {
  it('answers 503 for keys and tokens until the table caught up (not a wrong 401); bootstrap keys work at once', async () => {
    const { credentials, becomeReady } = setup();
    await expect(credentials.resolve(formatApiKey(keyId, secret))).rejects.toBeInstanceOf(
      ServiceUnavailableException,
    );
    await expect(
      credentials.resolve('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl'),
    ).rejects.toBeInstanceOf(ServiceUnavailableException);
    expect(await credentials.resolve('demo-write-key')).toEqual({
      workspaceId: 'ws_demo',
      scopes: ['*'],
      credentialId: 'static:ws_demo',
    });

    becomeReady();
    expect(await credentials.resolve(formatApiKey(keyId, secret))).toEqual({
      workspaceId: 'ws_a',
      scopes: ['reports:read'],
      credentialId: `key:${keyId}`,
    });
    expect(await credentials.resolve('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl')).toBeUndefined();
    expect(await credentials.resolve('unknown-key')).toBeUndefined();
  });
});
