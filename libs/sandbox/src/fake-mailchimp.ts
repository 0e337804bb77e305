import { createHash, randomUUID } from 'node:crypto';
import { FakeHttpApi, jsonReply, type Exchange, type FakeHttpApiOptions, type Reply } from './fake-http';

/** A list's merge field as Mailchimp declares it (`GET /lists/{id}/merge-fields`). */
export interface MailchimpMergeField {
  tag: string;
  name: string;
  type: 'text' | 'number' | 'phone' | 'date' | 'dropdown';
  required: boolean;
  options?: readonly string[];
}

export const MEMBER_STATUSES = ['subscribed', 'unsubscribed', 'cleaned', 'pending', 'transactional'] as const;
export type MemberStatus = (typeof MEMBER_STATUSES)[number];

/** An audience member as the fake keeps it. */
export interface FakeMailchimpMember {
  /** The subscriber hash: MD5 of the lowercased email. */
  id: string;
  listId: string;
  email_address: string;
  status: MemberStatus;
  merge_fields: Record<string, string | number>;
  /** Epoch ms, whole seconds: Mailchimp's `last_changed` has second precision. */
  lastChanged: number;
  signedUp: number;
}

export interface FakeMailchimpOptions extends FakeHttpApiOptions {
  /** API keys (`<key>-<dc>`) the fake accepts; absent: any key shaped like one (the sandbox). */
  apiKeys?: readonly string[];
  /** Audiences by list id, with their merge fields (default: one list `demo` with FNAME, LNAME, PHONE, COMPANY). */
  lists?: Readonly<Record<string, { name: string; mergeFields: readonly MailchimpMergeField[] }>>;
  /**
   * Requests a second the fake answers before 429 with Retry-After (Mailchimp publishes no fixed rate; tests set one
   * to see a client back off). Shorthand for `rateLimit: { requests, windowMs: 1000 }`.
   */
  requestsPerSecond?: number;
  /** Requests one user (API key) may have open at once before 429; Mailchimp's is 10. */
  maxConnections?: number;
  /** How long each answer takes, so that a client's requests overlap as they do over the internet (default 0). */
  latencyMs?: number;
}

const DEFAULT_MERGE_FIELDS: readonly MailchimpMergeField[] = [
  { tag: 'FNAME', name: 'First Name', type: 'text', required: false },
  { tag: 'LNAME', name: 'Last Name', type: 'text', required: false },
  { tag: 'PHONE', name: 'Phone Number', type: 'phone', required: false },
  { tag: 'COMPANY', name: 'Company', type: 'text', required: false },
];

/** Mailchimp's batch subscribe takes at most 500 members a call. */
const MAX_BATCH = 500;
const MAX_COUNT = 1000;
const MAX_CONNECTIONS = 10;
const SORT_FIELDS = ['last_changed', 'timestamp_opt', 'timestamp_signup'] as const;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const KEY_SHAPE = /^[0-9a-f]{8,}-[a-z]+\d+$/;
const ERRORS_DOC = 'https://mailchimp.com/developer/marketing/docs/errors/';

export const subscriberHash = (email: string) =>
  createHash('md5').update(email.trim().toLowerCase()).digest('hex');

const isoSeconds = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');

/** Mailchimp's 400 for one resource: "Invalid Resource" with field errors, or a named refusal. */
class Refusal extends Error {
  constructor(
    message: string,
    readonly errors: { field: string; message: string }[] = [],
    readonly title = 'Invalid Resource',
    readonly errorCode = 'ERROR_GENERIC',
  ) {
    super(message);
  }
}

/**
 * Mailchimp's Marketing API 3.0 for audience members, as much as sync uses, answering like the real one: HTTP Basic
 * with an API key, problem+json errors (`type`, `title`, `status`, `detail`, `instance`, and `errors` per field for
 * "Invalid Resource"), members listed by `last_changed` at second precision between `since_last_changed` and
 * `before_last_changed` (both exclusive: the docs say changed "after" and "before" the time), offset paging of at most
 * 1,000 with ties in id order, `fields`/`exclude_fields`, batch subscribe of 500 where one bad member fails alone,
 * consent kept (an unsubscribed or cleaned member is not subscribed again by the API, a permanently deleted one not
 * re-added), 10 simultaneous connections per user and an optional rate limit, both 429.
 * https://mailchimp.com/developer/marketing/api/list-members/
 */
export class FakeMailchimp extends FakeHttpApi {
  private readonly members = new Map<string, Map<string, FakeMailchimpMember>>();
  /** Hashes deleted permanently, by list: Mailchimp refuses to import them again. */
  private readonly forgotten = new Map<string, Set<string>>();
  /** Requests being answered, by API key. */
  private readonly open = new Map<string, number>();
  private readonly lists: Readonly<
    Record<string, { name: string; mergeFields: readonly MailchimpMergeField[] }>
  >;

  constructor(private readonly options: FakeMailchimpOptions = {}) {
    super({
      ...options,
      ...(options.requestsPerSecond === undefined
        ? {}
        : { rateLimit: { requests: options.requestsPerSecond, windowMs: 1_000 } }),
    });
    this.lists = options.lists ?? { demo: { name: 'Newsletter', mergeFields: DEFAULT_MERGE_FIELDS } };
    for (const id of Object.keys(this.lists)) {
      this.members.set(id, new Map());
      this.forgotten.set(id, new Set());
    }
  }

  /** Every member of a list, in id order. */
  all(listId: string): FakeMailchimpMember[] {
    return [...(this.members.get(listId)?.values() ?? [])].sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  member(listId: string, email: string): FakeMailchimpMember | undefined {
    return this.members.get(listId)?.get(subscriberHash(email));
  }

  /**
   * Members added as an import would, all changed at `at` (default: now; Mailchimp keeps whole seconds): how tests
   * make thousands share one second.
   */
  seed(
    listId: string,
    rows: readonly { email: string; status?: MemberStatus; mergeFields?: Record<string, string> }[],
    at = this.now(),
  ): string[] {
    return rows.map((row) => {
      this.forgotten.get(listId)?.delete(subscriberHash(row.email));
      const member = this.upsert(
        listId,
        { email_address: row.email, status: row.status ?? 'subscribed', merge_fields: row.mergeFields ?? {} },
        { creating: !this.member(listId, row.email), at, byApi: false },
      );
      return member.id;
    });
  }

  /** A person edits a member in Mailchimp's app at `at` (default: now), consent rules aside (they may re-subscribe). */
  edit(
    listId: string,
    email: string,
    change: { status?: MemberStatus; mergeFields?: Record<string, string> },
    at = this.now(),
  ): void {
    if (!this.member(listId, email)) throw new Error(`no member ${email} in ${listId}`);
    this.upsert(
      listId,
      {
        email_address: email,
        ...(change.status ? { status: change.status } : {}),
        merge_fields: change.mergeFields ?? {},
      },
      { creating: false, at, byApi: false },
    );
  }

  override reset(): void {
    super.reset();
    for (const list of this.members.values()) list.clear();
    for (const list of this.forgotten.values()) list.clear();
    this.open.clear();
  }

  protected sandboxMessages(to: string | undefined): readonly unknown[] {
    return [...this.members.values()]
      .flatMap((list) => [...list.values()])
      .filter((m) => to === undefined || m.email_address.toLowerCase() === to.toLowerCase())
      .map((m) => this.view(m));
  }

  protected authenticate(exchange: Exchange): Reply | undefined {
    const key = apiKeyOf(exchange);
    const known = this.options.apiKeys ? this.options.apiKeys.includes(key) : KEY_SHAPE.test(key);
    return known
      ? undefined
      : this.problem(
          401,
          'API Key Invalid',
          "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
        );
  }

  protected error(status: number, message: string, headers: Record<string, string> = {}): Reply {
    const detail =
      status === 429
        ? 'You have exceeded the limit of requests for this API key; try again shortly.'
        : message;
    return this.problem(status, message, detail, [], headers);
  }

  /** Counts the user's open requests (Mailchimp's limit is on simultaneous connections), then answers. */
  protected async route(exchange: Exchange): Promise<Reply> {
    const user = apiKeyOf(exchange);
    const open = this.open.get(user) ?? 0;
    const limit = this.options.maxConnections ?? MAX_CONNECTIONS;
    if (open >= limit)
      return this.problem(
        429,
        'Too Many Requests',
        `You have exceeded the limit of ${limit} simultaneous connections.`,
      );
    this.open.set(user, open + 1);
    try {
      const latency = this.options.latencyMs ?? 0;
      if (latency > 0) await new Promise((resolve) => setTimeout(resolve, latency));
      return this.answer(exchange);
    } finally {
      this.open.set(user, (this.open.get(user) ?? 1) - 1);
    }
  }

  private answer(exchange: Exchange): Reply {
    const path = exchange.url.pathname.replace(/\/+$/, '');
    if (path === '/3.0/ping' && exchange.method === 'GET')
      return jsonReply(200, { health_status: "Everything's Chimpy!" });
    const match =
      /^\/3\.0\/lists\/([^/]+)(?:\/(merge-fields|members)(?:\/([0-9a-f]{32})(\/actions\/delete-permanent)?)?)?$/.exec(
        path,
      );
    if (!match) return this.notFound();
    const [, listId, collection, hash, deletion] = match as unknown as [
      string,
      string,
      string?,
      string?,
      string?,
    ];
    const list = this.lists[listId];
    if (!list) return this.notFound();
    try {
      const body =
        exchange.body.length > 0
          ? (JSON.parse(exchange.body.toString('utf8')) as Record<string, unknown>)
          : {};
      if (!collection && exchange.method === 'GET')
        return jsonReply(200, {
          id: listId,
          name: list.name,
          stats: { member_count: this.all(listId).length },
        });
      if (!collection && exchange.method === 'POST') return this.batch(listId, body, exchange.at);
      if (collection === 'merge-fields' && exchange.method === 'GET')
        return jsonReply(200, {
          merge_fields: list.mergeFields.map((f, i) => ({ merge_id: i + 1, ...f, list_id: listId })),
          list_id: listId,
          total_items: list.mergeFields.length,
        });
      if (collection === 'members' && !hash && exchange.method === 'GET')
        return this.list(listId, exchange.url);
      if (collection === 'members' && hash)
        return this.one(listId, hash, deletion !== undefined, body, exchange);
      return this.problem(405, 'Method Not Allowed', `${exchange.method} is not allowed here.`);
    } catch (error) {
      if (error instanceof SyntaxError)
        return this.problem(400, 'JSON Parse Error', `We encountered an unspecified JSON parsing error.`);
      if (error instanceof Refusal) return this.problem(400, error.title, error.message, error.errors);
      throw error;
    }
  }

  private list(listId: string, url: URL): Reply {
    const query = url.searchParams;
    const count = Math.min(Number(query.get('count') ?? 10) || 10, MAX_COUNT);
    const offset = Math.max(0, Number(query.get('offset') ?? 0) || 0);
    const since = timeParam(query, 'since_last_changed');
    const before = timeParam(query, 'before_last_changed');
    const status = query.get('status');
    if (status !== null && !(MEMBER_STATUSES as readonly string[]).includes(status))
      throw new Refusal(`The status '${status}' is not one of ${MEMBER_STATUSES.join(', ')}.`, [
        { field: 'status', message: 'Invalid status' },
      ]);
    const sortField = query.get('sort_field');
    if (sortField !== null && !(SORT_FIELDS as readonly string[]).includes(sortField))
      throw new Refusal(`sort_field must be one of ${SORT_FIELDS.join(', ')}.`, [
        { field: 'sort_field', message: 'Invalid sort field' },
      ]);
    const sortDir = query.get('sort_dir') ?? 'ASC';
    if (sortDir !== 'ASC' && sortDir !== 'DESC')
      throw new Refusal('sort_dir must be ASC or DESC.', [
        { field: 'sort_dir', message: 'Invalid sort dir' },
      ]);
    let members = this.all(listId);
    if (since !== undefined) members = members.filter((m) => m.lastChanged > since);
    if (before !== undefined) members = members.filter((m) => m.lastChanged < before);
    if (status) members = members.filter((m) => m.status === status);
    if (sortField) {
      const key = (m: FakeMailchimpMember) => (sortField === 'last_changed' ? m.lastChanged : m.signedUp);
      // Ties keep id order (the sort is stable): pages of one second stay put while nothing changes.
      members = [...members].sort((a, b) => (key(a) - key(b)) * (sortDir === 'DESC' ? -1 : 1));
    }
    return jsonReply(
      200,
      shaped(
        {
          members: members.slice(offset, offset + count).map((m) => this.view(m)),
          list_id: listId,
          total_items: members.length,
        },
        query,
      ),
    );
  }

  private one(
    listId: string,
    hash: string,
    deletion: boolean,
    body: Record<string, unknown>,
    exchange: Exchange,
  ): Reply {
    const members = this.members.get(listId) as Map<string, FakeMailchimpMember>;
    const member = members.get(hash);
    if (deletion) {
      if (exchange.method !== 'POST') return this.problem(405, 'Method Not Allowed', 'Use POST.');
      if (!member) return this.notFound();
      members.delete(hash);
      this.forgotten.get(listId)?.add(hash);
      return { status: 204 };
    }
    if (exchange.method === 'GET')
      return member ? jsonReply(200, shaped(this.view(member), exchange.url.searchParams)) : this.notFound();
    if (exchange.method === 'PATCH') {
      if (!member) return this.notFound();
      const input = { ...body, email_address: member.email_address };
      return jsonReply(200, this.view(this.upsert(listId, input, { creating: false, at: exchange.at })));
    }
    if (exchange.method === 'PUT') {
      const email = typeof body['email_address'] === 'string' ? body['email_address'] : '';
      if (subscriberHash(email) !== hash)
        throw new Refusal('The subscriber hash does not match the email address.', [
          { field: 'email_address', message: 'does not match the subscriber hash' },
        ]);
      return jsonReply(200, this.view(this.upsert(listId, body, { creating: !member, at: exchange.at })));
    }
    return this.problem(405, 'Method Not Allowed', `${exchange.method} is not allowed here.`);
  }

  /** Batch subscribe/update: each member on its own; the answer lists the created, the updated and the refused. */
  private batch(listId: string, body: Record<string, unknown>, at: number): Reply {
    const members = Array.isArray(body['members'])
      ? (body['members'] as Record<string, unknown>[])
      : undefined;
    if (!members)
      throw new Refusal('The resource submitted could not be validated.', [
        { field: 'members', message: 'Required field' },
      ]);
    if (members.length > MAX_BATCH)
      throw new Refusal(`You may not add more than ${MAX_BATCH} members in one call.`, [
        { field: 'members', message: `at most ${MAX_BATCH}` },
      ]);
    const updateExisting = body['update_existing'] === true;
    const created: unknown[] = [];
    const updated: unknown[] = [];
    const errors: unknown[] = [];
    for (const input of members) {
      const email = typeof input['email_address'] === 'string' ? input['email_address'] : '';
      const exists = this.members.get(listId)?.has(subscriberHash(email)) ?? false;
      try {
        if (exists && !updateExisting)
          throw new Refusal(
            `${email} is already a list member. Use PUT to insert or update list members.`,
            [{ field: 'email_address', message: 'Member Exists' }],
            'Member Exists',
            'ERROR_CONTACT_EXISTS',
          );
        if (input['status'] === undefined)
          throw new Refusal('The resource submitted could not be validated.', [
            { field: 'status', message: 'Required field' },
          ]);
        const member = this.upsert(listId, input, { creating: !exists, at });
        (exists ? updated : created).push(this.view(member));
      } catch (error) {
        if (!(error instanceof Refusal)) throw error;
        const [first] = error.errors;
        errors.push({
          email_address: email,
          error: error.message,
          error_code: error.errorCode,
          field: first?.field ?? '',
          field_message: first?.message ?? '',
        });
      }
    }
    return jsonReply(200, {
      new_members: created,
      updated_members: updated,
      errors,
      total_created: created.length,
      total_updated: updated.length,
      error_count: errors.length,
    });
  }

  /**
   * Validates and writes one member at `at`'s second. `creating` applies `status_if_new` and required merge fields;
   * `byApi` (the default) applies the consent rules a person in Mailchimp's app is not held to.
   */
  private upsert(
    listId: string,
    input: Record<string, unknown>,
    how: { creating: boolean; at: number; byApi?: boolean },
  ): FakeMailchimpMember {
    const list = this.lists[listId];
    const members = this.members.get(listId);
    if (!list || !members) throw new Refusal('The requested resource could not be found.');
    const email = typeof input['email_address'] === 'string' ? input['email_address'].trim() : '';
    if (!EMAIL.test(email))
      throw new Refusal('Please provide a valid email address.', [
        { field: 'email_address', message: 'Please provide a valid email address.' },
      ]);
    const status = (input['status'] ?? (how.creating ? input['status_if_new'] : undefined)) as
      string | undefined;
    if (how.creating && status === undefined)
      throw new Refusal('The resource submitted could not be validated.', [
        { field: 'status', message: 'Required field' },
      ]);
    if (status !== undefined && !(MEMBER_STATUSES as readonly string[]).includes(status))
      throw new Refusal(`The status '${status}' is not one of ${MEMBER_STATUSES.join(', ')}.`, [
        { field: 'status', message: 'Invalid status' },
      ]);
    const hash = subscriberHash(email);
    const existing = members.get(hash);
    if (how.byApi !== false) consentCheck(email, status, existing, this.forgotten.get(listId)?.has(hash));
    const mergeFields = (input['merge_fields'] ?? {}) as Record<string, unknown>;
    const problems: { field: string; message: string }[] = [];
    for (const [tag, value] of Object.entries(mergeFields)) {
      const field = list.mergeFields.find((f) => f.tag === tag);
      if (!field)
        problems.push({ field: `merge_fields.${tag}`, message: `${tag} is not a merge field of this list` });
      else if (value !== '' && !fitsMergeField(field, value))
        problems.push({ field: `merge_fields.${tag}`, message: `${tag}: not a valid ${field.type}` });
    }
    const merged = { ...(existing?.merge_fields ?? {}), ...(mergeFields as Record<string, string | number>) };
    if (how.creating)
      for (const field of list.mergeFields)
        if (field.required && (merged[field.tag] === undefined || merged[field.tag] === ''))
          problems.push({ field: `merge_fields.${field.tag}`, message: `${field.tag} must be provided` });
    if (problems.length > 0)
      throw new Refusal(
        `Your merge fields were invalid: ${problems.map((p) => p.message).join('; ')}`,
        problems,
      );
    const second = how.at - (how.at % 1000);
    const member: FakeMailchimpMember = {
      id: hash,
      listId,
      email_address: existing?.email_address ?? email,
      status: (status as MemberStatus | undefined) ?? existing?.status ?? 'transactional',
      merge_fields: merged,
      lastChanged: second,
      signedUp: existing?.signedUp ?? second,
    };
    members.set(member.id, member);
    this.forgotten.get(listId)?.delete(hash);
    return member;
  }

  private view(m: FakeMailchimpMember) {
    return {
      id: m.id,
      email_address: m.email_address,
      unique_email_id: m.id.slice(0, 10),
      email_type: 'html',
      status: m.status,
      merge_fields: m.merge_fields,
      last_changed: isoSeconds(m.lastChanged),
      timestamp_signup: isoSeconds(m.signedUp),
      list_id: m.listId,
    };
  }

  private notFound(): Reply {
    return this.problem(404, 'Resource Not Found', 'The requested resource could not be found.');
  }

  private problem(
    status: number,
    title: string,
    detail: string,
    errors: { field: string; message: string }[] = [],
    headers: Record<string, string> = {},
  ): Reply {
    const reply = jsonReply(
      status,
      {
        type: ERRORS_DOC,
        title,
        status,
        detail,
        instance: randomUUID(),
        ...(errors.length ? { errors } : {}),
      },
      headers,
    );
    return { ...reply, headers: { ...reply.headers, 'content-type': 'application/problem+json' } };
  }
}

/** The API key of HTTP Basic (any user name), '' when there is none. */
function apiKeyOf(exchange: Exchange): string {
  const header = exchange.headers.authorization ?? '';
  if (!header.startsWith('Basic ')) return '';
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  return decoded.slice(decoded.indexOf(':') + 1);
}

/**
 * What Mailchimp keeps from the API for consent's sake: a member who unsubscribed or bounced (cleaned) is not
 * subscribed again, and a permanently deleted contact is not re-imported; either may only be sent a confirmation
 * (`pending`, double opt-in).
 */
function consentCheck(
  email: string,
  status: string | undefined,
  existing: FakeMailchimpMember | undefined,
  forgotten: boolean | undefined,
): void {
  if (!existing && forgotten && status !== 'pending')
    throw new Refusal(
      `${email} was permanently deleted and cannot be re-imported. The contact must re-subscribe to get back on the list.`,
      [{ field: 'email_address', message: 'Forgotten Email Not Subscribed' }],
      'Forgotten Email Not Subscribed',
    );
  if (
    existing &&
    status === 'subscribed' &&
    (existing.status === 'unsubscribed' || existing.status === 'cleaned')
  )
    throw new Refusal(
      `${email} is in a compliance state due to unsubscribe, bounce, or compliance review and cannot be subscribed.`,
      [{ field: 'status', message: 'Member In Compliance State' }],
      'Member In Compliance State',
    );
}

/** An ISO 8601 query parameter as epoch ms (a `+` decoded to a space is read back as `+`), undefined when absent. */
function timeParam(query: URLSearchParams, name: string): number | undefined {
  const value = query.get(name);
  if (value === null || value === '') return undefined;
  const ms = Date.parse(value.replace(' ', '+'));
  if (Number.isNaN(ms))
    throw new Refusal(`${name} must be an ISO 8601 time, e.g. 2015-10-21T15:41:36+00:00.`, [
      { field: name, message: 'Invalid date' },
    ]);
  return ms;
}

/** The answer cut to `fields` and without `exclude_fields` (comma-separated, dot notation into sub-objects). */
function shaped(answer: object, query: URLSearchParams): unknown {
  const paths = (name: string) =>
    (query.get(name) ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)
      .map((p) => p.split('.'));
  const fields = paths('fields');
  const excluded = paths('exclude_fields');
  const kept = fields.length > 0 ? pick(answer, fields) : answer;
  return excluded.length > 0 ? omit(kept, excluded) : kept;
}

function pick(value: unknown, paths: readonly string[][]): unknown {
  if (Array.isArray(value)) return value.map((item) => pick(item, paths));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    const below = paths.filter((p) => p[0] === key);
    if (below.length === 0) continue;
    out[key] = below.some((p) => p.length === 1)
      ? child
      : pick(
          child,
          below.map((p) => p.slice(1)),
        );
  }
  return out;
}

function omit(value: unknown, paths: readonly string[][]): unknown {
  if (Array.isArray(value)) return value.map((item) => omit(item, paths));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    const below = paths.filter((p) => p[0] === key);
    if (below.some((p) => p.length === 1)) continue;
    out[key] =
      below.length > 0
        ? omit(
            child,
            below.map((p) => p.slice(1)),
          )
        : child;
  }
  return out;
}

function fitsMergeField(field: MailchimpMergeField, value: unknown): boolean {
  const text = String(value);
  switch (field.type) {
    case 'number':
      return Number.isFinite(Number(text));
    case 'phone':
      return /^\+?[0-9 ().-]{6,25}$/.test(text);
    case 'date':
      return !Number.isNaN(Date.parse(text));
    case 'dropdown':
      return field.options?.includes(text) ?? false;
    case 'text':
      return text.length <= 255;
  }
}
