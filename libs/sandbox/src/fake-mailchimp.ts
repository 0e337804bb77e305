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
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const KEY_SHAPE = /^[0-9a-f]{8,}-[a-z]+\d+$/;
const ERRORS_DOC = 'https://mailchimp.com/developer/marketing/docs/errors/';

export const subscriberHash = (email: string) =>
  createHash('md5').update(email.trim().toLowerCase()).digest('hex');

const isoSeconds = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');

class InvalidResource extends Error {
  constructor(
    message: string,
    readonly errors: { field: string; message: string }[] = [],
  ) {
    super(message);
  }
}

/**
 * Mailchimp's Marketing API 3.0 for audience members, as much as sync uses, answering like the real one: HTTP Basic
 * with an API key, problem+json errors (`type`, `title`, `status`, `detail`, `instance`, and `errors` per field for
 * "Invalid Resource"), members listed by `last_changed` with `since_last_changed` (inclusive) and
 * `before_last_changed` (exclusive) at second precision, offset paging of at most 1,000, batch subscribe of 500
 * where one bad member fails alone, permanent deletion, and the rate limit's 429 with Retry-After.
 * https://mailchimp.com/developer/marketing/api/list-members/
 */
export class FakeMailchimp extends FakeHttpApi {
  private readonly members = new Map<string, Map<string, FakeMailchimpMember>>();
  private readonly lists: Readonly<
    Record<string, { name: string; mergeFields: readonly MailchimpMergeField[] }>
  >;

  constructor(private readonly options: FakeMailchimpOptions = {}) {
    super(options);
    this.lists = options.lists ?? { demo: { name: 'Newsletter', mergeFields: DEFAULT_MERGE_FIELDS } };
    for (const id of Object.keys(this.lists)) this.members.set(id, new Map());
  }

  /** Every member of a list, in id order. */
  all(listId: string): FakeMailchimpMember[] {
    return [...(this.members.get(listId)?.values() ?? [])].sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  member(listId: string, email: string): FakeMailchimpMember | undefined {
    return this.members.get(listId)?.get(subscriberHash(email));
  }

  /** Members added as an import would, all changed at `at` (default: now): how tests make many share one second. */
  seed(
    listId: string,
    rows: readonly { email: string; status?: MemberStatus; mergeFields?: Record<string, string> }[],
    at = this.now(),
  ): string[] {
    return rows.map((row) => {
      const member = this.upsert(
        listId,
        { email_address: row.email, status: row.status ?? 'subscribed', merge_fields: row.mergeFields ?? {} },
        true,
        at,
      );
      return member.id;
    });
  }

  /** A person edits a member in Mailchimp's app at `at` (default: now). */
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
      false,
      at,
    );
  }

  protected sandboxMessages(to: string | undefined): readonly unknown[] {
    return [...this.members.values()]
      .flatMap((list) => [...list.values()])
      .filter((m) => to === undefined || m.email_address.toLowerCase() === to.toLowerCase())
      .map((m) => this.view(m));
  }

  protected authenticate(exchange: Exchange): Reply | undefined {
    const header = exchange.headers.authorization ?? '';
    const decoded = header.startsWith('Basic ')
      ? Buffer.from(header.slice(6), 'base64').toString('utf8')
      : '';
    const key = decoded.slice(decoded.indexOf(':') + 1);
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
    return this.problem(status, message, message, [], headers);
  }

  protected route(exchange: Exchange): Reply {
    const path = exchange.url.pathname.replace(/\/+$/, '');
    if (path === '/3.0/ping' && exchange.method === 'GET')
      return jsonReply(200, { health_status: "Everything's Chimpy!" });
    const match =
      /^\/3\.0\/lists\/([^/]+)(?:\/(merge-fields|members)(?:\/([0-9a-f]{32})(\/actions\/delete-permanent)?)?)?$/.exec(
        path,
      );
    if (!match) return this.problem(404, 'Resource Not Found', 'The requested resource could not be found.');
    const [, listId, collection, hash, deletion] = match as unknown as [
      string,
      string,
      string?,
      string?,
      string?,
    ];
    const list = this.lists[listId];
    if (!list) return this.problem(404, 'Resource Not Found', 'The requested resource could not be found.');
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
      if (error instanceof InvalidResource)
        return this.problem(400, 'Invalid Resource', error.message, error.errors);
      throw error;
    }
  }

  private list(listId: string, url: URL): Reply {
    const count = Math.min(Number(url.searchParams.get('count') ?? 10) || 10, MAX_COUNT);
    const offset = Number(url.searchParams.get('offset') ?? 0) || 0;
    const since = url.searchParams.get('since_last_changed');
    const before = url.searchParams.get('before_last_changed');
    const status = url.searchParams.get('status');
    const sortField = url.searchParams.get('sort_field');
    const descending = url.searchParams.get('sort_dir') === 'DESC';
    let members = this.all(listId);
    if (since) members = members.filter((m) => m.lastChanged >= Date.parse(since));
    if (before) members = members.filter((m) => m.lastChanged < Date.parse(before));
    if (status) members = members.filter((m) => m.status === status);
    if (sortField === 'last_changed' || sortField === 'timestamp_signup' || sortField === 'timestamp_opt') {
      const key = (m: FakeMailchimpMember) => (sortField === 'last_changed' ? m.lastChanged : m.signedUp);
      // Ties keep id order: a stable answer, which real Mailchimp does not promise either way.
      members = [...members].sort((a, b) => (key(a) - key(b)) * (descending ? -1 : 1));
    }
    return jsonReply(200, {
      members: members.slice(offset, offset + count).map((m) => this.view(m)),
      list_id: listId,
      total_items: members.length,
    });
  }

  private one(
    listId: string,
    hash: string,
    deletion: boolean,
    body: Record<string, unknown>,
    exchange: Exchange,
  ) {
    const members = this.members.get(listId) as Map<string, FakeMailchimpMember>;
    const member = members.get(hash);
    const notFound = () =>
      this.problem(404, 'Resource Not Found', 'The requested resource could not be found.');
    if (deletion) {
      if (exchange.method !== 'POST') return this.problem(405, 'Method Not Allowed', 'Use POST.');
      if (!member) return notFound();
      members.delete(hash);
      return { status: 204 };
    }
    if (exchange.method === 'GET') return member ? jsonReply(200, this.view(member)) : notFound();
    if (exchange.method === 'PATCH') {
      if (!member) return notFound();
      return jsonReply(
        200,
        this.view(this.upsert(listId, { ...body, email_address: member.email_address }, false, exchange.at)),
      );
    }
    if (exchange.method === 'PUT') {
      const email = typeof body['email_address'] === 'string' ? body['email_address'] : '';
      if (subscriberHash(email) !== hash)
        throw new InvalidResource('The subscriber hash does not match the email address.', [
          { field: 'email_address', message: 'does not match the subscriber hash' },
        ]);
      return jsonReply(200, this.view(this.upsert(listId, body, !member, exchange.at)));
    }
    return this.problem(405, 'Method Not Allowed', `${exchange.method} is not allowed here.`);
  }

  /** Batch subscribe/update: each member on its own; the answer lists the created, the updated and the refused. */
  private batch(listId: string, body: Record<string, unknown>, at: number): Reply {
    const members = Array.isArray(body['members'])
      ? (body['members'] as Record<string, unknown>[])
      : undefined;
    if (!members)
      throw new InvalidResource('The resource submitted could not be validated.', [
        { field: 'members', message: 'Required field' },
      ]);
    if (members.length > MAX_BATCH)
      throw new InvalidResource(`You may not add more than ${MAX_BATCH} members in one call.`, [
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
          throw new InvalidResource(`${email} is already a list member.`, [
            { field: 'email_address', message: 'ERROR_CONTACT_EXISTS' },
          ]);
        const member = this.upsert(listId, input, !exists, at);
        (exists ? updated : created).push(this.view(member));
      } catch (error) {
        if (!(error instanceof InvalidResource)) throw error;
        const [first] = error.errors;
        errors.push({
          email_address: email,
          error: error.message,
          error_code: first?.message === 'ERROR_CONTACT_EXISTS' ? 'ERROR_CONTACT_EXISTS' : 'ERROR_GENERIC',
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

  /** Validates and writes one member; `creating` applies `status_if_new` and required merge fields. */
  private upsert(
    listId: string,
    input: Record<string, unknown>,
    creating: boolean,
    at: number,
  ): FakeMailchimpMember {
    const list = this.lists[listId];
    const members = this.members.get(listId);
    if (!list || !members) throw new InvalidResource('The requested resource could not be found.');
    const email = typeof input['email_address'] === 'string' ? input['email_address'].trim() : '';
    if (!EMAIL.test(email))
      throw new InvalidResource('Please provide a valid email address.', [
        { field: 'email_address', message: 'Please provide a valid email address.' },
      ]);
    const status = (input['status'] ?? (creating ? input['status_if_new'] : undefined)) as string | undefined;
    if (creating && status === undefined)
      throw new InvalidResource('The resource submitted could not be validated.', [
        { field: 'status', message: 'Required field' },
      ]);
    if (status !== undefined && !(MEMBER_STATUSES as readonly string[]).includes(status))
      throw new InvalidResource(`The status '${status}' is not one of ${MEMBER_STATUSES.join(', ')}.`, [
        { field: 'status', message: 'Invalid status' },
      ]);
    const mergeFields = (input['merge_fields'] ?? {}) as Record<string, unknown>;
    const problems: { field: string; message: string }[] = [];
    for (const [tag, value] of Object.entries(mergeFields)) {
      const field = list.mergeFields.find((f) => f.tag === tag);
      if (!field)
        problems.push({ field: `merge_fields.${tag}`, message: `${tag} is not a merge field of this list` });
      else if (value !== '' && !fitsMergeField(field, value))
        problems.push({ field: `merge_fields.${tag}`, message: `${tag}: not a valid ${field.type}` });
    }
    const existing = members.get(subscriberHash(email));
    const merged = { ...(existing?.merge_fields ?? {}), ...(mergeFields as Record<string, string | number>) };
    if (creating)
      for (const field of list.mergeFields)
        if (field.required && (merged[field.tag] === undefined || merged[field.tag] === ''))
          problems.push({ field: `merge_fields.${field.tag}`, message: `${field.tag} must be provided` });
    if (problems.length > 0)
      throw new InvalidResource(
        `Your merge fields were invalid: ${problems.map((p) => p.message).join('; ')}`,
        problems,
      );
    const second = at - (at % 1000);
    const member: FakeMailchimpMember = {
      id: subscriberHash(email),
      listId,
      email_address: existing?.email_address ?? email,
      status: (status as MemberStatus | undefined) ?? existing?.status ?? 'transactional',
      merge_fields: merged,
      lastChanged: second,
      signedUp: existing?.signedUp ?? second,
    };
    members.set(member.id, member);
    return member;
  }

  private view(m: FakeMailchimpMember) {
    return {
      id: m.id,
      email_address: m.email_address,
      unique_email_id: m.id.slice(0, 10),
      status: m.status,
      merge_fields: m.merge_fields,
      last_changed: isoSeconds(m.lastChanged),
      timestamp_signup: isoSeconds(m.signedUp),
      list_id: m.listId,
    };
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
