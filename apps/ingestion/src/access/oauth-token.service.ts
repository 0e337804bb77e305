import { Inject, Injectable } from '@nestjs/common';
import {
  clientCredentialId,
  parseScopeParameter,
  secretMatches,
  AUTH_FAILURES,
  RATE_LIMITER,
  type AuthFailureThrottle,
  type CredentialRateLimiter,
  type RateLimitDecision,
} from '@tributary/access';
import { AccessTokens } from './access-tokens';
import { EdgeCredentials } from './edge-credentials';

/** An OAuth2 error response (RFC 6749 §5.2). */
export class OAuthError extends Error {
  constructor(
    readonly status: 400 | 401,
    readonly error: 'invalid_request' | 'invalid_client' | 'invalid_scope' | 'unsupported_grant_type',
    readonly description: string,
  ) {
    super(description);
  }
}

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
}

const field = (body: Record<string, unknown>, name: string): string | undefined => {
  const value = body[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
};

/** Client id and secret from HTTP Basic (form-urlencoded per RFC 6749 §2.3.1) or from the body, not both. */
function clientAuthentication(
  authorization: string | undefined,
  body: Record<string, unknown>,
): { clientId: string; clientSecret: string } {
  const inBody = { clientId: field(body, 'client_id'), clientSecret: field(body, 'client_secret') };
  const [scheme, value] = authorization?.split(' ', 2) ?? [];
  if (scheme?.toLowerCase() === 'basic' && value) {
    if (inBody.clientSecret)
      throw new OAuthError(400, 'invalid_request', 'use one client authentication method');
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      try {
        return {
          clientId: decodeURIComponent(decoded.slice(0, colon)),
          clientSecret: decodeURIComponent(decoded.slice(colon + 1)),
        };
      } catch {
        throw new OAuthError(401, 'invalid_client', 'malformed client credentials');
      }
    }
  }
  if (inBody.clientId && inBody.clientSecret)
    return { clientId: inBody.clientId, clientSecret: inBody.clientSecret };
  throw new OAuthError(401, 'invalid_client', 'client authentication required');
}

/**
 * The client-credentials grant: authenticates an OAuth client and issues a token for a subset of its scopes. A wrong
 * client id or secret counts against the caller's address (AUTH_FAILURES; the controller refuses a throttled one).
 */
@Injectable()
export class OAuthTokenExchange {
  constructor(
    private readonly credentials: EdgeCredentials,
    private readonly tokens: AccessTokens,
    @Inject(RATE_LIMITER) private readonly limiter: CredentialRateLimiter,
    @Inject(AUTH_FAILURES) private readonly failures: AuthFailureThrottle,
  ) {}

  async exchange(
    authorization: string | undefined,
    rawBody: unknown,
    address: string,
  ): Promise<{ rateLimit: RateLimitDecision; token?: TokenResponse }> {
    const body = rawBody && typeof rawBody === 'object' ? (rawBody as Record<string, unknown>) : {};
    const grantType = field(body, 'grant_type');
    if (!grantType) throw new OAuthError(400, 'invalid_request', 'grant_type is required');
    if (grantType !== 'client_credentials') {
      throw new OAuthError(400, 'unsupported_grant_type', 'only client_credentials is supported');
    }
    const { clientId, clientSecret } = clientAuthentication(authorization, body);
    const client = await this.credentials.activeClient(clientId);
    // Same answer for unknown client and wrong secret: no client enumeration.
    if (!client || !secretMatches(clientSecret, client.secretHash)) {
      this.failures.failed(address, `${clientId}:${clientSecret}`);
      throw new OAuthError(401, 'invalid_client', 'unknown client or wrong secret');
    }
    const requested = parseScopeParameter(field(body, 'scope')) ?? client.scopes;
    const beyond = requested.filter((scope) => !client.scopes.includes(scope));
    if (beyond.length > 0 || requested.length === 0) {
      throw new OAuthError(
        400,
        'invalid_scope',
        `not granted to this client: ${beyond.join(' ') || '(none)'}`,
      );
    }
    const rateLimit = await this.limiter.take({
      workspaceId: client.workspaceId,
      scopes: requested,
      credentialId: clientCredentialId(client._id),
    });
    if (!rateLimit.allowed) return { rateLimit };
    const { accessToken, expiresIn } = await this.tokens.issue({
      clientId: client._id,
      workspaceId: client.workspaceId,
      scopes: requested,
    });
    return {
      token: {
        access_token: accessToken,
        token_type: 'Bearer',
        expires_in: expiresIn,
        scope: requested.join(' '),
      },
      rateLimit,
    };
  }
}
