import { randomBytes, timingSafeEqual } from 'node:crypto';
import {
  FakeHttpApi,
  jsonReply,
  type Exchange,
  type FakeHttpApiOptions,
  type InjectedFailure,
  type Reply,
} from './fake-http';

export interface FakeAdAudiencesOptions extends FakeHttpApiOptions {
  /** The OAuth client allowed to take tokens (client credentials grant). */
  clientId: string;
  clientSecret: string;
  /** Access token lifetime; default 3600 s, as Google's. */
  tokenTtlSeconds?: number;
  /** Audiences spring into being at their first upload (the `npm start` sandbox); default false: 404 until created. */
  autoCreateAudiences?: boolean;
}

export type AudienceAction = 'add' | 'remove';

/** One member as the platform takes it: SHA-256 hex of the normalised email and/or E.164 phone. */
export interface FakeAudienceMember {
  hashedEmail?: string;
  hashedPhoneNumber?: string;
}

/** One accepted upload, as received. */
export interface FakeAudienceUpload {
  requestId: string;
  account: string;
  audience: string;
  action: AudienceAction;
  members: FakeAudienceMember[];
  consent: { adUserData: string; adPersonalization: string } | null;
  /** ISO time the fake accepted it. */
  receivedAt: string;
}

interface FieldViolation {
  field: string;
  description: string;
}

type Json = Record<string, unknown>;

const TOKEN_PATH = '/oauth2/token';
const MEMBERS = /^\/v1\/accounts\/([^/]+)\/audiences\/([^/:]+)\/members:(add|remove)$/;
const MAX_MEMBERS = 10_000;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const IDENTIFIERS = ['hashedEmail', 'hashedPhoneNumber'] as const;
const CONSENT_VALUES = ['GRANTED', 'DENIED'];

const isRecord = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Why an identifier is refused, in the words a platform would use; null when it is a hash. */
function identifierProblem(value: unknown): string | null {
  if (typeof value !== 'string') return 'must be a string';
  if (SHA256_HEX.test(value)) return null;
  if (/^[0-9A-F]{64}$/i.test(value)) return 'must be lower-case hex';
  if (value.includes('@') || /^\+?\d[\d\s-]{5,}$/.test(value))
    return 'looks unhashed: normalise, then send the SHA-256 hex digest';
  return 'must be the SHA-256 hex digest (64 lower-case hex characters)';
}

/**
 * A local fake of a Customer-Match-style audience API (Google Ads user lists, Meta custom audiences): OAuth 2.0
 * client-credentials tokens at `POST /oauth2/token`, then Bearer calls to
 * `POST /v1/accounts/{account}/audiences/{audience}/members:add|remove` with up to 10,000 hashed members
 * (`{members: [{hashedEmail?, hashedPhoneNumber?}], consent?}`). It answers like the real ones: 401 for a missing,
 * wrong or expired token, 400 with `fieldViolations` naming each unhashed or invalid member, 404 for an unknown
 * audience, 429 + Retry-After over its rate limit, 5xx on demand. It keeps every accepted upload and each audience's
 * members (adding a member twice keeps one), readable back (`uploads`, `membersOf`, `GET /sandbox/messages?to=<audience>`).
 */
export class FakeAdAudiences extends FakeHttpApi {
  private readonly tokens = new Map<string, number>();
  private readonly audiences = new Map<string, Map<string, FakeAudienceMember>>();
  private readonly accepted: FakeAudienceUpload[] = [];
  private readonly uploadFailures: InjectedFailure[] = [];

  constructor(private readonly options: FakeAdAudiencesOptions) {
    super(options);
  }

  /** Creates an (empty) audience in an account, as the marketer would in the ad platform's UI. */
  createAudience(account: string, audience: string): void {
    const key = `${account}/${audience}`;
    if (!this.audiences.has(key)) this.audiences.set(key, new Map());
  }

  /** Every accepted upload, oldest first; of one audience when named. */
  uploads(account?: string, audience?: string): FakeAudienceUpload[] {
    return this.accepted.filter(
      (u) =>
        (account === undefined || u.account === account) &&
        (audience === undefined || u.audience === audience),
    );
  }

  /** An audience's members now (added, not removed since), each once. */
  membersOf(account: string, audience: string): FakeAudienceMember[] {
    return [...(this.audiences.get(`${account}/${audience}`)?.values() ?? [])];
  }

  /** The next `count` member uploads (not token requests) get `failure`, e.g. `{ status: 429, retryAfterSeconds: 1 }`. */
  failNextUploads(count: number, failure: InjectedFailure = { status: 503 }): void {
    for (let i = 0; i < count; i += 1) this.uploadFailures.push(failure);
  }

  /** Makes every issued token invalid, as a revoked grant or a platform-side expiry would. */
  expireTokens(): void {
    this.tokens.clear();
  }

  override reset(): void {
    super.reset();
    this.tokens.clear();
    this.audiences.clear();
    this.accepted.length = 0;
    this.uploadFailures.length = 0;
  }

  protected sandboxMessages(to: string | undefined): readonly unknown[] {
    return to === undefined ? this.accepted : this.accepted.filter((u) => u.audience === to);
  }

  protected authenticate(exchange: Exchange): Reply | undefined {
    // The token endpoint checks the client's own credentials.
    if (exchange.url.pathname === TOKEN_PATH) return undefined;
    const header = exchange.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : '';
    const expiresAt = this.tokens.get(token);
    if (expiresAt !== undefined && expiresAt > this.now()) return undefined;
    return this.error(
      401,
      'Request had invalid authentication credentials. Expected OAuth 2 access token.',
      { 'www-authenticate': 'Bearer realm="ads", error="invalid_token"' },
      'UNAUTHENTICATED',
    );
  }

  protected error(
    status: number,
    message: string,
    headers: Record<string, string> = {},
    code = statusName(status),
    violations: FieldViolation[] = [],
  ): Reply {
    const details =
      violations.length === 0
        ? []
        : [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: violations }];
    return jsonReply(status, { error: { code: status, message, status: code, details } }, headers);
  }

  protected route(exchange: Exchange): Reply {
    if (exchange.url.pathname === TOKEN_PATH) return this.token(exchange);
    const match = MEMBERS.exec(exchange.url.pathname);
    if (!match) return this.error(404, 'Requested entity was not found.');
    if (exchange.method !== 'POST') return this.error(405, 'Method not allowed.');
    const failure = this.uploadFailures.shift();
    if (failure && 'status' in failure) {
      const retryAfter: Record<string, string> =
        failure.retryAfterSeconds === undefined ? {} : { 'retry-after': String(failure.retryAfterSeconds) };
      return this.error(
        failure.status,
        failure.status === 429 ? 'Resource has been exhausted.' : 'Injected failure.',
        retryAfter,
      );
    }
    const [, account = '', audience = '', action = 'add'] = match.map((part) => decodeURIComponent(part));
    const key = `${account}/${audience}`;
    if (!this.audiences.has(key)) {
      if (!this.options.autoCreateAudiences)
        return this.error(404, `Audience ${audience} was not found in account ${account}.`);
      this.createAudience(account, audience);
    }
    let body: unknown;
    try {
      body = JSON.parse(exchange.body.toString('utf8'));
    } catch {
      return this.error(400, 'Invalid JSON payload received.', {}, 'INVALID_ARGUMENT');
    }
    if (!isRecord(body)) return this.error(400, 'Invalid JSON payload received.', {}, 'INVALID_ARGUMENT');
    const violations = validate(body, action as AudienceAction);
    if (violations.length > 0)
      return this.error(400, 'Request contains an invalid argument.', {}, 'INVALID_ARGUMENT', violations);

    const members = (body['members'] as Json[]).map((m) => ({
      ...(typeof m['hashedEmail'] === 'string' ? { hashedEmail: m['hashedEmail'] } : {}),
      ...(typeof m['hashedPhoneNumber'] === 'string' ? { hashedPhoneNumber: m['hashedPhoneNumber'] } : {}),
    }));
    const consent = isRecord(body['consent'])
      ? {
          adUserData: String(body['consent']['adUserData']),
          adPersonalization: String(body['consent']['adPersonalization']),
        }
      : null;
    const requestId = `req_${randomBytes(8).toString('hex')}`;
    this.accepted.push({
      requestId,
      account,
      audience,
      action: action as AudienceAction,
      members,
      consent,
      receivedAt: new Date(exchange.at).toISOString(),
    });
    const list = this.audiences.get(key) as Map<string, FakeAudienceMember>;
    for (const member of members) {
      const id = JSON.stringify([member.hashedEmail ?? null, member.hashedPhoneNumber ?? null]);
      if (action === 'add') list.set(id, member);
      else list.delete(id);
    }
    return jsonReply(200, { requestId, receivedMembers: members.length });
  }

  /** RFC 6749 client credentials: client authenticated by HTTP Basic or by client_id/client_secret in the form. */
  private token(exchange: Exchange): Reply {
    if (exchange.method !== 'POST') return jsonReply(405, { error: 'invalid_request' });
    const form = new URLSearchParams(exchange.body.toString('utf8'));
    let clientId = form.get('client_id') ?? '';
    let clientSecret = form.get('client_secret') ?? '';
    const basic = exchange.headers.authorization ?? '';
    if (basic.startsWith('Basic ')) {
      const decoded = Buffer.from(basic.slice('Basic '.length), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      clientId = decodeURIComponent(decoded.slice(0, colon));
      clientSecret = decodeURIComponent(decoded.slice(colon + 1));
    }
    if (clientId !== this.options.clientId || !sameSecret(clientSecret, this.options.clientSecret))
      return jsonReply(401, { error: 'invalid_client', error_description: 'Client authentication failed.' });
    if (form.get('grant_type') !== 'client_credentials')
      return jsonReply(400, {
        error: 'unsupported_grant_type',
        error_description: 'Only client_credentials is supported.',
      });
    const ttl = this.options.tokenTtlSeconds ?? 3600;
    const accessToken = `ya29.${randomBytes(24).toString('base64url')}`;
    this.tokens.set(accessToken, this.now() + ttl * 1000);
    return jsonReply(200, { access_token: accessToken, token_type: 'Bearer', expires_in: ttl });
  }
}

/** Every problem of an upload, each at its field; all of them, not just the first. */
function validate(body: Json, action: AudienceAction): FieldViolation[] {
  const violations: FieldViolation[] = [];
  const members = body['members'];
  if (!Array.isArray(members) || members.length === 0 || members.length > MAX_MEMBERS) {
    violations.push({ field: 'members', description: `must hold 1 to ${MAX_MEMBERS} members` });
  } else {
    members.forEach((member: unknown, i) => {
      if (!isRecord(member)) {
        violations.push({ field: `members[${i}]`, description: 'must be an object' });
        return;
      }
      for (const field of Object.keys(member))
        if (!(IDENTIFIERS as readonly string[]).includes(field))
          violations.push({ field: `members[${i}].${field}`, description: 'unknown identifier' });
      const given = IDENTIFIERS.filter((field) => member[field] !== undefined);
      if (given.length === 0)
        violations.push({
          field: `members[${i}]`,
          description: 'needs at least one of hashedEmail or hashedPhoneNumber',
        });
      for (const field of given) {
        const problem = identifierProblem(member[field]);
        if (problem) violations.push({ field: `members[${i}].${field}`, description: problem });
      }
    });
  }
  // Adding people to ad targeting needs their consent signals (EU user consent policy); removing does not.
  const consent = body['consent'];
  if (action === 'add') {
    if (!isRecord(consent))
      violations.push({ field: 'consent', description: 'is required when adding members' });
    else
      for (const field of ['adUserData', 'adPersonalization'])
        if (!CONSENT_VALUES.includes(String(consent[field])))
          violations.push({ field: `consent.${field}`, description: 'must be GRANTED or DENIED' });
  }
  for (const field of Object.keys(body))
    if (!['members', 'consent'].includes(field)) violations.push({ field, description: 'unknown field' });
  return violations;
}

function statusName(status: number): string {
  const names: Record<number, string> = {
    400: 'INVALID_ARGUMENT',
    401: 'UNAUTHENTICATED',
    403: 'PERMISSION_DENIED',
    404: 'NOT_FOUND',
    405: 'METHOD_NOT_ALLOWED',
    413: 'INVALID_ARGUMENT',
    429: 'RESOURCE_EXHAUSTED',
    500: 'INTERNAL',
    502: 'UNAVAILABLE',
    503: 'UNAVAILABLE',
    504: 'DEADLINE_EXCEEDED',
  };
  return names[status] ?? 'UNKNOWN';
}
