import { randomUUID, timingSafeEqual } from 'node:crypto';
import { FakeHttpApi, jsonReply, type Exchange, type FakeHttpApiOptions, type Reply } from './fake-http';
import {
  ConflictError,
  DEFAULT_PROPERTIES,
  PROPERTIES,
  ValidationError,
  isRecord,
  type HubSpotObjectType,
  type Json,
} from './hubspot-crm';
import { searchRows, tieOrder, type SearchRow } from './hubspot-search';
import { HubSpotWebhookSender, type HubSpotWebhookOptions } from './hubspot-webhooks';

export type { HubSpotObjectType } from './hubspot-crm';

/** Where a property value came from, as HubSpot's property history says (`propertiesWithHistory`). */
export interface HubSpotPropertyVersion {
  value: string;
  /** ISO time of the change. */
  timestamp: string;
  /** `CRM_UI` for a person's edit (the fake's `edit`), `INTEGRATION` for an API write. */
  sourceType: 'CRM_UI' | 'INTEGRATION' | 'IMPORT';
  /** The private app that wrote it (API writes), else the user. */
  sourceId: string;
}

/** One CRM record as the fake keeps it. */
export interface FakeHubSpotRecord {
  id: string;
  objectType: HubSpotObjectType;
  /** Property values as HubSpot returns them: strings, or null once cleared. */
  properties: Record<string, string | null>;
  history: Record<string, HubSpotPropertyVersion[]>;
  createdAt: number;
  /** `lastmodifieddate`, epoch ms. */
  updatedAt: number;
  archived: boolean;
  /** When search sees this version; before, search sees `searchable` (the version before it, if any). */
  visibleAt: number;
  searchable?: { properties: Record<string, string | null>; updatedAt: number; archived: boolean };
}

/** HubSpot's request limits for one private app (its defaults here are those of a Starter portal's private app). */
export interface HubSpotLimits {
  /** Requests per rolling 10 s (`TEN_SECONDLY_ROLLING`), search excluded. */
  tenSecondly: number;
  /** Search requests per second (`SECONDLY`), per portal. */
  searchPerSecond: number;
  /** Requests per day (`DAILY`), search included. */
  daily: number;
}

export interface FakeHubSpotOptions extends Omit<FakeHttpApiOptions, 'rateLimit'> {
  /** Private app tokens the fake takes, with the app id each writes as; unset: any `pat-` token (the sandbox). */
  accessTokens?: Record<string, string>;
  limits?: Partial<HubSpotLimits>;
  /**
   * How long a change takes to reach the search index (HubSpot's search is eventually consistent): until then search
   * returns the record as it was. 0 by default.
   */
  searchLagMs?: number;
  /** The portal (hub) id in error bodies and webhooks. */
  portalId?: number;
  /** An app's webhook subscription: creations and property changes posted, signed, as HubSpot does. */
  webhooks?: HubSpotWebhookOptions;
}

const MAX_BATCH = 100;
const MAX_LIST_PAGE = 100;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const OBJECT_ROUTE = /^\/crm\/v3\/objects\/(contacts|companies)(?:\/([^/]+))?(?:\/([^/]+))?\/?$/;

const iso = (ms: number) => new Date(ms).toISOString();
const SINGULAR: Record<HubSpotObjectType, string> = { contacts: 'contact', companies: 'company' };

/**
 * A local HubSpot CRM v3 for the objects API as `@hubspot/api-client` calls it: contacts and companies, list, get,
 * create, update, archive, batch read/create/update/archive (100 at most; batch create's multi-status answer when
 * every input carries an `objectWriteTraceId`), merge, a contact's GDPR delete, and search (`hubspot-search.ts`, over
 * the search index's view of the records). Private app tokens (Bearer), the three rate
 * limits with HubSpot's 429 bodies and X-HubSpot-RateLimit-* headers, property validation (unknown, read-only,
 * enumeration options, email format), unique contact emails (409 CONFLICT), property history with the writer's
 * identity, and a search index that may lag writes (`searchLagMs`). `edit` plays a person changing a record in
 * HubSpot's UI.
 */
export class FakeHubSpot extends FakeHttpApi {
  private readonly records: Record<HubSpotObjectType, Map<string, FakeHubSpotRecord>> = {
    contacts: new Map(),
    companies: new Map(),
  };
  /** Ids merged away, and the record each now resolves to. */
  private readonly mergedInto: Record<HubSpotObjectType, Map<string, string>> = {
    contacts: new Map(),
    companies: new Map(),
  };
  private nextId = 1001;
  private readonly limits: HubSpotLimits;
  /** Arrival times of metered requests in the last 10 s, of search requests in the last second, and today's count. */
  private recent: number[] = [];
  private recentSearches: number[] = [];
  private day = { start: Number.NEGATIVE_INFINITY, used: 0 };
  readonly portalId: number;
  /** The webhook subscription's sender (its `deliveries` show what was posted), when the fake has one. */
  readonly webhooks: HubSpotWebhookSender | undefined;

  constructor(private readonly options: FakeHubSpotOptions = {}) {
    super(options);
    this.limits = { tenSecondly: 100, searchPerSecond: 4, daily: 250_000, ...options.limits };
    this.portalId = options.portalId ?? 62515;
    this.webhooks = options.webhooks ? new HubSpotWebhookSender(options.webhooks) : undefined;
  }

  override async stop(): Promise<void> {
    await this.webhooks?.stop();
    await super.stop();
  }

  /** A record as it stands (not as search may still see it). */
  record(objectType: HubSpotObjectType, id: string): FakeHubSpotRecord | undefined {
    return this.records[objectType].get(id);
  }

  /** Every record of a type, archived ones included, in id order. */
  all(objectType: HubSpotObjectType): FakeHubSpotRecord[] {
    return [...this.records[objectType].values()];
  }

  /**
   * Creates records as an import would, all modified at `at` (default: now): how tests make many records share one
   * `lastmodifieddate`. Returns their ids.
   */
  seed(objectType: HubSpotObjectType, rows: readonly Record<string, string>[], at = this.now()): string[] {
    return rows.map((properties) => {
      this.validate(objectType, properties, undefined);
      return this.create(objectType, properties, at, { sourceType: 'IMPORT', sourceId: 'import' }).id;
    });
  }

  /**
   * A person changes a record in HubSpot's UI at `at` (default: now); search sees it `searchLagMs` later (default:
   * the fake's), so a change can reach search after a later one did.
   */
  edit(
    objectType: HubSpotObjectType,
    id: string,
    properties: Record<string, string>,
    at = this.now(),
    searchLagMs = this.options.searchLagMs ?? 0,
  ): void {
    const record = this.records[objectType].get(id);
    if (!record) throw new Error(`no ${objectType} ${id}`);
    this.validate(objectType, properties, id);
    this.change(
      record,
      properties,
      at,
      { sourceType: 'CRM_UI', sourceId: 'user:ada@agency.example' },
      searchLagMs,
    );
  }

  override reset(): void {
    super.reset();
    this.records.contacts.clear();
    this.records.companies.clear();
    this.mergedInto.contacts.clear();
    this.mergedInto.companies.clear();
    this.recent = [];
    this.recentSearches = [];
    this.day = { start: Number.NEGATIVE_INFINITY, used: 0 };
  }

  protected sandboxMessages(): readonly unknown[] {
    return [...this.all('contacts'), ...this.all('companies')].map((r) => ({
      objectType: r.objectType,
      id: r.id,
      properties: r.properties,
      updatedAt: iso(r.updatedAt),
      archived: r.archived,
    }));
  }

  protected authenticate(exchange: Exchange): Reply | undefined {
    return this.appOf(exchange) === undefined
      ? this.hubError(
          401,
          'INVALID_AUTHENTICATION',
          'Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview',
        )
      : undefined;
  }

  protected error(status: number, message: string, headers: Record<string, string> = {}): Reply {
    const category =
      status >= 500 ? 'INTERNAL_ERROR' : status === 404 ? 'OBJECT_NOT_FOUND' : 'VALIDATION_ERROR';
    return this.hubError(status, category, message, headers);
  }

  protected route(exchange: Exchange): Reply {
    const match = OBJECT_ROUTE.exec(exchange.url.pathname);
    if (!match) return this.error(404, `Unable to infer object type from: ${exchange.url.pathname}`);
    const objectType = match[1] as HubSpotObjectType;
    const [segment, action] = [match[2], match[3]];
    const search = exchange.method === 'POST' && segment === 'search' && action === undefined;
    const refused = this.meterHubSpot(exchange.at, search);
    if (refused) return refused;
    const headers = search ? {} : this.limitHeaders(exchange.at);
    const app = this.appOf(exchange) as string;
    let reply: Reply;
    try {
      const body = exchange.body.length > 0 ? (JSON.parse(exchange.body.toString('utf8')) as unknown) : {};
      if (search) reply = this.search(objectType, body, exchange.at);
      else if (segment === 'batch' && exchange.method === 'POST' && action)
        reply = this.batch(objectType, action, body, exchange, app);
      else if (segment === undefined && exchange.method === 'GET')
        reply = this.list(objectType, exchange.url);
      else if (segment === undefined && exchange.method === 'POST')
        reply = this.createOne(objectType, body, exchange.at, app);
      else if (segment === 'merge' && action === undefined && exchange.method === 'POST')
        reply = this.merge(objectType, body, exchange.at, app);
      else if (segment === 'gdpr-delete' && action === undefined && exchange.method === 'POST')
        reply = this.gdprDelete(objectType, body);
      else if (segment !== undefined && action === undefined)
        reply = this.one(objectType, segment, body, exchange, app);
      else reply = this.error(404, 'Not Found');
    } catch (error) {
      if (error instanceof SyntaxError) reply = this.error(400, `Invalid input JSON: ${error.message}`);
      else if (error instanceof ConflictError) reply = this.hubError(409, 'CONFLICT', error.message);
      else if (error instanceof ValidationError)
        reply = this.hubError(400, 'VALIDATION_ERROR', error.message);
      else throw error;
    }
    return { ...reply, headers: { ...reply.headers, ...headers } };
  }

  private appOf(exchange: Exchange): string | undefined {
    const header = exchange.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7) : '';
    if (!token) return undefined;
    const tokens = this.options.accessTokens;
    if (!tokens) return token.startsWith('pat-') ? 'sandbox-app' : undefined;
    for (const [known, app] of Object.entries(tokens)) {
      const a = Buffer.from(token);
      const b = Buffer.from(known);
      if (a.length === b.length && timingSafeEqual(a, b)) return app;
    }
    return undefined;
  }

  private hubError(
    status: number,
    category: string,
    message: string,
    headers: Record<string, string> = {},
  ): Reply {
    return jsonReply(status, { status: 'error', message, correlationId: randomUUID(), category }, headers);
  }

  /** Counts the request against HubSpot's limits; HubSpot's 429 when one is spent. */
  private meterHubSpot(at: number, search: boolean): Reply | undefined {
    if (at - this.day.start >= 86_400_000) this.day = { start: at - (at % 86_400_000), used: 0 };
    this.recent = this.recent.filter((t) => at - t < 10_000);
    this.recentSearches = this.recentSearches.filter((t) => at - t < 1_000);
    const limited = (policyName: string, message: string, headers: Record<string, string>) =>
      jsonReply(
        429,
        {
          status: 'error',
          message,
          errorType: 'RATE_LIMIT',
          correlationId: randomUUID(),
          policyName,
          groupName: `publicapi:private-app:${this.portalId}`,
        },
        headers,
      );
    if (this.day.used >= this.limits.daily)
      return limited('DAILY', 'You have reached your daily limit.', this.limitHeaders(at));
    if (search) {
      if (this.recentSearches.length >= this.limits.searchPerSecond)
        return limited('SECONDLY', 'You have reached your secondly limit.', {});
      this.recentSearches.push(at);
    } else {
      if (this.recent.length >= this.limits.tenSecondly)
        return limited(
          'TEN_SECONDLY_ROLLING',
          'You have reached your ten_secondly_rolling limit.',
          this.limitHeaders(at),
        );
      this.recent.push(at);
    }
    this.day.used += 1;
    return undefined;
  }

  /** HubSpot's rate-limit headers (search answers carry none, as HubSpot's do not). */
  private limitHeaders(at: number): Record<string, string> {
    const perSecond = Math.max(1, Math.floor(this.limits.tenSecondly / 10));
    const lastSecond = this.recent.filter((t) => at - t < 1_000).length;
    return {
      'x-hubspot-ratelimit-daily': String(this.limits.daily),
      'x-hubspot-ratelimit-daily-remaining': String(Math.max(0, this.limits.daily - this.day.used)),
      'x-hubspot-ratelimit-interval-milliseconds': '10000',
      'x-hubspot-ratelimit-max': String(this.limits.tenSecondly),
      'x-hubspot-ratelimit-remaining': String(Math.max(0, this.limits.tenSecondly - this.recent.length)),
      'x-hubspot-ratelimit-secondly': String(perSecond),
      'x-hubspot-ratelimit-secondly-remaining': String(Math.max(0, perSecond - lastSecond)),
    };
  }

  // ---- records ----

  private create(
    objectType: HubSpotObjectType,
    properties: Record<string, string>,
    at: number,
    source: Pick<HubSpotPropertyVersion, 'sourceType' | 'sourceId'>,
  ): FakeHubSpotRecord {
    const id = String(this.nextId++);
    const record: FakeHubSpotRecord = {
      id,
      objectType,
      properties: { hs_object_id: id, createdate: iso(at), lastmodifieddate: iso(at) },
      history: {},
      createdAt: at,
      updatedAt: at,
      archived: false,
      visibleAt: at + (this.options.searchLagMs ?? 0),
    };
    this.records[objectType].set(id, record);
    this.apply(record, properties, at, source);
    this.webhooks?.notify({
      ...this.webhookSource(record, at, source),
      subscriptionType: `${SINGULAR[objectType]}.creation`,
    });
    return record;
  }

  private change(
    record: FakeHubSpotRecord,
    properties: Record<string, string>,
    at: number,
    source: Pick<HubSpotPropertyVersion, 'sourceType' | 'sourceId'>,
    searchLagMs = this.options.searchLagMs ?? 0,
  ): void {
    // What search keeps seeing until the index catches up: the version it saw last.
    const visible = this.searchView(record, at);
    record.searchable = visible ?? undefined;
    record.visibleAt = at + searchLagMs;
    record.updatedAt = Math.max(record.updatedAt, at);
    record.properties = { ...record.properties, lastmodifieddate: iso(record.updatedAt) };
    for (const name of this.apply(record, properties, at, source))
      this.webhooks?.notify({
        ...this.webhookSource(record, at, source),
        subscriptionType: `${SINGULAR[record.objectType]}.propertyChange`,
        propertyName: name,
        propertyValue: record.properties[name] ?? '',
      });
  }

  /** A webhook event's who, what and when: HubSpot names the writing app in `sourceId` of an integration's change. */
  private webhookSource(
    record: FakeHubSpotRecord,
    at: number,
    source: Pick<HubSpotPropertyVersion, 'sourceType' | 'sourceId'>,
  ) {
    return {
      portalId: this.portalId,
      occurredAt: at,
      objectId: Number(record.id),
      changeSource: source.sourceType,
      sourceId: source.sourceId,
    };
  }

  private apply(
    record: FakeHubSpotRecord,
    properties: Record<string, string>,
    at: number,
    source: Pick<HubSpotPropertyVersion, 'sourceType' | 'sourceId'>,
  ): string[] {
    const changed: string[] = [];
    for (const [name, raw] of Object.entries(properties)) {
      const value = raw === '' ? null : raw;
      if ((record.properties[name] ?? null) === value) continue;
      record.properties[name] = value;
      (record.history[name] ??= []).unshift({ value: value ?? '', timestamp: iso(at), ...source });
      changed.push(name);
    }
    return changed;
  }

  /** The record as search sees it at `at`: the newest version already indexed, or none before the first is. */
  private searchView(
    record: FakeHubSpotRecord,
    at: number,
  ): { properties: Record<string, string | null>; updatedAt: number; archived: boolean } | undefined {
    if (record.visibleAt <= at)
      return { properties: record.properties, updatedAt: record.updatedAt, archived: record.archived };
    return record.searchable;
  }

  /** Refuses unknown, read-only and invalid values, and a contact email another contact has: HubSpot's messages. */
  private validate(objectType: HubSpotObjectType, properties: unknown, id: string | undefined): void {
    if (!isRecord(properties)) throw new ValidationError('Invalid input JSON: properties must be an object');
    const problems: Json[] = [];
    const definitions = PROPERTIES[objectType];
    for (const [name, value] of Object.entries(properties)) {
      const definition = definitions[name];
      const problem = (error: string, message: string) =>
        problems.push({ isValid: false, message, error, name, localizedErrorMessage: message });
      if (!definition) problem('PROPERTY_DOESNT_EXIST', `Property "${name}" does not exist`);
      else if (definition.readOnly)
        problem('READ_ONLY_VALUE', `"${name}" is a read only property; its value cannot be set.`);
      else if (typeof value !== 'string' && value !== null)
        problem('INVALID_VALUE', `${JSON.stringify(value)} is not a valid value for ${name}`);
      else if (value === null || value === '') continue;
      else if (definition.email && !EMAIL.test(value))
        problem('INVALID_EMAIL', `Email address ${value} is invalid`);
      else if (definition.type === 'number' && !Number.isFinite(Number(value)))
        problem('INVALID_INTEGER', `${value} was not a valid number.`);
      else if (definition.options && !definition.options.includes(value))
        problem(
          'INVALID_OPTION',
          `${value} was not one of the allowed options: [${definition.options.join(', ')}]`,
        );
    }
    if (problems.length > 0)
      throw new ValidationError(`Property values were not valid: ${JSON.stringify(problems)}`);
    const email = objectType === 'contacts' ? (properties['email'] as string | undefined) : undefined;
    if (email) {
      const existing = [...this.records.contacts.values()].find(
        (r) => !r.archived && r.id !== id && r.properties['email']?.toLowerCase() === email.toLowerCase(),
      );
      if (existing) throw new ConflictError(`Contact already exists. Existing ID: ${existing.id}`);
    }
  }

  private view(
    record: { id: string; properties: Record<string, string | null>; updatedAt: number; archived: boolean },
    objectType: HubSpotObjectType,
    names: readonly string[] | undefined,
    createdAt: number,
    history?: { names: readonly string[]; of: FakeHubSpotRecord },
  ): Json {
    const wanted = names && names.length > 0 ? names : DEFAULT_PROPERTIES[objectType];
    const properties: Json = {};
    for (const name of wanted)
      if (name in PROPERTIES[objectType]) properties[name] = record.properties[name] ?? null;
    const view: Json = {
      id: record.id,
      properties,
      createdAt: iso(createdAt),
      updatedAt: iso(record.updatedAt),
      archived: record.archived,
    };
    if (history && history.names.length > 0) {
      view['propertiesWithHistory'] = Object.fromEntries(
        history.names.map((name) => [name, (history.of.history[name] ?? []).map((v) => ({ ...v }))]),
      );
    }
    return view;
  }

  private list(objectType: HubSpotObjectType, url: URL): Reply {
    const limit = Number(url.searchParams.get('limit') ?? 10);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_PAGE)
      return this.error(400, `limit must be between 1 and ${MAX_LIST_PAGE}`);
    const archived = url.searchParams.get('archived') === 'true';
    const after = url.searchParams.get('after');
    const names = url.searchParams.getAll('properties').flatMap((p) => p.split(','));
    const rows = this.all(objectType)
      .filter((r) => r.archived === archived && (after === null || Number(r.id) > Number(after)))
      .slice(0, limit + 1);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return jsonReply(200, {
      results: page.map((r) => this.view(r, objectType, names, r.createdAt)),
      ...(rows.length > limit && last ? { paging: { next: { after: last.id, link: '' } } } : {}),
    });
  }

  private one(
    objectType: HubSpotObjectType,
    id: string,
    body: unknown,
    exchange: Exchange,
    app: string,
  ): Reply {
    const record = this.find(objectType, id);
    const notFound = () => this.notFound();
    if (exchange.method === 'GET') {
      const archived = exchange.url.searchParams.get('archived') === 'true';
      if (!record || record.archived !== archived) return notFound();
      const names = exchange.url.searchParams.getAll('properties').flatMap((p) => p.split(','));
      const withHistory = exchange.url.searchParams
        .getAll('propertiesWithHistory')
        .flatMap((p) => p.split(','));
      return jsonReply(
        200,
        this.view(record, objectType, names, record.createdAt, { names: withHistory, of: record }),
      );
    }
    if (!record || record.archived) return notFound();
    if (exchange.method === 'PATCH') {
      const properties = isRecord(body) ? body['properties'] : undefined;
      this.validate(objectType, properties, id);
      this.change(record, properties as Record<string, string>, exchange.at, {
        sourceType: 'INTEGRATION',
        sourceId: app,
      });
      return jsonReply(200, this.view(record, objectType, Object.keys(properties as Json), record.createdAt));
    }
    if (exchange.method === 'DELETE') {
      this.archive(record, exchange.at);
      return { status: 204 };
    }
    return this.error(405, 'Method Not Allowed');
  }

  /** A record by id, or by an id merged into it (HubSpot resolves a merged-away id to the record that survived). */
  private find(objectType: HubSpotObjectType, id: string): FakeHubSpotRecord | undefined {
    return this.records[objectType].get(this.mergedInto[objectType].get(id) ?? id);
  }

  private notFound(): Reply {
    return this.hubError(404, 'OBJECT_NOT_FOUND', 'Object not found.  objectId are usually numeric.');
  }

  /** Forgets a record for good, and the ids merged into it. */
  private forget(record: FakeHubSpotRecord): void {
    this.records[record.objectType].delete(record.id);
    const aliases = this.mergedInto[record.objectType];
    for (const [alias, target] of aliases) if (target === record.id) aliases.delete(alias);
  }

  private archive(record: FakeHubSpotRecord, at: number): void {
    record.searchable = this.searchView(record, at);
    record.archived = true;
    record.updatedAt = Math.max(record.updatedAt, at);
    record.visibleAt = at + (this.options.searchLagMs ?? 0);
  }

  private createOne(objectType: HubSpotObjectType, body: unknown, at: number, app: string): Reply {
    const properties = isRecord(body) ? body['properties'] : undefined;
    this.validate(objectType, properties, undefined);
    const record = this.create(objectType, properties as Record<string, string>, at, {
      sourceType: 'INTEGRATION',
      sourceId: app,
    });
    return jsonReply(201, this.view(record, objectType, Object.keys(properties as Json), at));
  }

  private batch(
    objectType: HubSpotObjectType,
    action: string,
    body: unknown,
    exchange: Exchange,
    app: string,
  ): Reply {
    const inputs =
      isRecord(body) && Array.isArray(body['inputs']) ? (body['inputs'] as unknown[]) : undefined;
    if (!inputs) return this.error(400, 'Invalid input JSON: inputs is required');
    if (inputs.length > MAX_BATCH)
      return this.error(
        400,
        `Batch input limit exceeded. Maximum batch size is ${MAX_BATCH}, got ${inputs.length}.`,
      );
    const started = iso(exchange.at);
    const done = (results: Json[], errors: Json[], status = 200) =>
      jsonReply(errors.length > 0 ? 207 : status, {
        status: 'COMPLETE',
        results,
        ...(errors.length > 0 ? { numErrors: errors.length, errors } : {}),
        startedAt: started,
        completedAt: iso(this.now()),
      });
    const missing = (ids: string[]): Json[] =>
      ids.length === 0
        ? []
        : [
            {
              status: 'error',
              category: 'OBJECT_NOT_FOUND',
              message: `Could not get some ${objectType.slice(0, -1).toUpperCase()} objects, they may be deleted or not exist. Check that ids are valid.`,
              context: { ids },
            },
          ];
    const idOf = (input: unknown) => (isRecord(input) ? String(input['id'] ?? '') : '');
    if (action === 'read') {
      const names =
        isRecord(body) && Array.isArray(body['properties']) ? (body['properties'] as string[]) : [];
      const withHistory =
        isRecord(body) && Array.isArray(body['propertiesWithHistory'])
          ? (body['propertiesWithHistory'] as string[])
          : [];
      const archived = exchange.url.searchParams.get('archived') === 'true';
      const found: FakeHubSpotRecord[] = [];
      const absent: string[] = [];
      for (const input of inputs) {
        const record = this.find(objectType, idOf(input));
        if (record && record.archived === archived) found.push(record);
        else absent.push(idOf(input));
      }
      return done(
        found.map((r) => this.view(r, objectType, names, r.createdAt, { names: withHistory, of: r })),
        missing(absent),
      );
    }
    if (action === 'create') {
      const traces = inputs.map((input) =>
        isRecord(input) && typeof input['objectWriteTraceId'] === 'string' ? input['objectWriteTraceId'] : '',
      );
      // HubSpot's multi-status errors: with a unique objectWriteTraceId on every input, the valid inputs are created
      // and the refused ones are named in `errors`, grouped by error, their trace ids in `context` (207;
      // developers.hubspot.com/docs/api-reference/error-handling#multi-status-errors). Without, one invalid input
      // refuses the whole batch: 400 VALIDATION_ERROR, or 409 CONFLICT for an email a contact has.
      const traced = traces.every((t) => t !== '') && new Set(traces).size === traces.length;
      const accepted: { properties: Record<string, string>; trace: string }[] = [];
      const refused = new Map<string, { category: string; message: string; traces: string[] }>();
      const emails = new Set<string>();
      inputs.forEach((input, i) => {
        const properties = isRecord(input) ? input['properties'] : undefined;
        const trace = traces[i] as string;
        try {
          this.validate(objectType, properties, undefined);
          const email = objectType === 'contacts' ? (properties as Json)['email'] : undefined;
          if (typeof email === 'string' && email !== '') {
            if (emails.has(email.toLowerCase()))
              throw new ValidationError('Duplicate email addresses in the batch');
            emails.add(email.toLowerCase());
          }
          accepted.push({ properties: properties as Record<string, string>, trace });
        } catch (error) {
          if (!traced || !(error instanceof ValidationError)) throw error;
          const category = error instanceof ConflictError ? 'CONFLICT' : 'VALIDATION_ERROR';
          const group = refused.get(`${category} ${error.message}`) ?? {
            category,
            message: error.message,
            traces: [],
          };
          group.traces.push(trace);
          refused.set(`${category} ${error.message}`, group);
        }
      });
      const created = accepted.map(({ properties, trace }) => ({
        record: this.create(objectType, properties, exchange.at, {
          sourceType: 'INTEGRATION',
          sourceId: app,
        }),
        names: [...Object.keys(properties), 'createdate', 'hs_object_id', 'lastmodifieddate'],
        trace,
      }));
      return done(
        // Not in input order, as HubSpot's are not: a client matches results by trace id (or id), never position.
        created
          .sort((a, b) => (tieOrder(a.record.id) < tieOrder(b.record.id) ? -1 : 1))
          .map(({ record, names, trace }) => ({
            ...this.view(record, objectType, names, record.createdAt),
            ...(trace === '' ? {} : { objectWriteTraceId: trace }),
          })),
        [...refused.values()].map(({ category, message, traces: ids }) => ({
          status: 'error',
          category,
          message,
          context: { objectWriteTraceId: ids },
        })),
        201,
      );
    }
    if (action === 'update') {
      // HubSpot documents multi-status for batch create only: here one invalid input still refuses the whole batch.
      const ids = inputs.map(idOf);
      const duplicate = ids.find((id, i) => ids.indexOf(id) !== i);
      if (duplicate !== undefined)
        throw new ValidationError(`Duplicate IDs found in batch input: [${duplicate}]`);
      const absent: string[] = [];
      const present: { record: FakeHubSpotRecord; properties: Record<string, string>; trace: unknown }[] = [];
      for (const input of inputs) {
        const record = this.find(objectType, idOf(input));
        if (!record || record.archived) {
          absent.push(idOf(input));
          continue;
        }
        const properties = isRecord(input) ? input['properties'] : undefined;
        this.validate(objectType, properties, record.id);
        const trace = isRecord(input) ? input['objectWriteTraceId'] : undefined;
        present.push({ record, properties: properties as Record<string, string>, trace });
      }
      for (const { record, properties } of present)
        this.change(record, properties, exchange.at, { sourceType: 'INTEGRATION', sourceId: app });
      return done(
        present
          .sort((a, b) => (tieOrder(a.record.id) < tieOrder(b.record.id) ? -1 : 1))
          .map(({ record, properties, trace }) => ({
            ...this.view(record, objectType, Object.keys(properties), record.createdAt),
            // A result's objectWriteTraceId (SimplePublicObject in HubSpot's CRM v3 schema) names its input.
            ...(typeof trace === 'string' ? { objectWriteTraceId: trace } : {}),
          })),
        missing(absent),
      );
    }
    if (action === 'archive') {
      for (const input of inputs) {
        const record = this.records[objectType].get(idOf(input));
        if (record && !record.archived) this.archive(record, exchange.at);
      }
      return { status: 204 };
    }
    return this.error(404, 'Not Found');
  }

  /**
   * `POST /crm/v3/objects/<type>/merge` `{primaryObjectId, objectIdToMerge}`: one record survives with its own values,
   * taking the merged record's where it has none; the merged record is gone and its id resolves to the survivor
   * (developers.hubspot.com/docs/api-reference/latest/crm/objects, "Merge records"). The survivor keeps the primary's
   * id, as in portals with HubSpot's primary ID preservation (elsewhere HubSpot gives it a new id, hence the answer).
   */
  private merge(objectType: HubSpotObjectType, body: unknown, at: number, app: string): Reply {
    const primaryId = isRecord(body) ? body['primaryObjectId'] : undefined;
    const mergedId = isRecord(body) ? body['objectIdToMerge'] : undefined;
    if (typeof primaryId !== 'string' || typeof mergedId !== 'string')
      throw new ValidationError('primaryObjectId and objectIdToMerge are required');
    const primary = this.find(objectType, primaryId);
    const merged = this.find(objectType, mergedId);
    if (!primary || primary.archived || !merged || merged.archived) return this.notFound();
    if (primary.id === merged.id) throw new ValidationError(`Cannot merge ${primaryId} into itself`);
    const taken: Record<string, string> = {};
    for (const [name, value] of Object.entries(merged.properties))
      if (
        value !== null &&
        (primary.properties[name] ?? null) === null &&
        !PROPERTIES[objectType][name]?.readOnly
      )
        taken[name] = value;
    const aliases = this.mergedInto[objectType];
    for (const [alias, target] of aliases) if (target === merged.id) aliases.set(alias, primary.id);
    aliases.set(merged.id, primary.id);
    this.records[objectType].delete(merged.id);
    this.change(primary, taken, at, { sourceType: 'INTEGRATION', sourceId: app });
    return jsonReply(200, this.view(primary, objectType, undefined, primary.createdAt));
  }

  /**
   * `POST /crm/v3/objects/contacts/gdpr-delete` `{objectId, idProperty?}`: deletes the contact for good (not to the
   * recycle bin): gone from reads, lists and search; 204 (developers.hubspot.com/docs/api-reference/legacy/crm/
   * objects/contacts/gdpr/gdpr-delete-contact). Contacts only. An id the portal does not know: 404, as other by-id
   * routes; an unknown email: 204 (HubSpot blocklists that address; the fake keeps no blocklist).
   */
  private gdprDelete(objectType: HubSpotObjectType, body: unknown): Reply {
    if (objectType !== 'contacts') return this.error(404, 'Not Found');
    const objectId = isRecord(body) ? body['objectId'] : undefined;
    const idProperty = isRecord(body) ? body['idProperty'] : undefined;
    if (typeof objectId !== 'string' || objectId === '') throw new ValidationError('objectId is required');
    if (idProperty !== undefined && idProperty !== 'email' && idProperty !== 'hs_object_id')
      throw new ValidationError(`Property "${String(idProperty)}" is not a unique identifier`);
    const record =
      idProperty === 'email'
        ? this.all('contacts').find((r) => r.properties['email']?.toLowerCase() === objectId.toLowerCase())
        : this.find('contacts', objectId);
    if (record) this.forget(record);
    else if (idProperty !== 'email') return this.notFound();
    return { status: 204 };
  }

  private search(objectType: HubSpotObjectType, body: unknown, at: number): Reply {
    const rows: (SearchRow & { updatedAt: number; archived: boolean; createdAt: number })[] = [];
    for (const record of this.records[objectType].values()) {
      // The record itself where search is up to date with it: no copy of 100,000 records a search.
      if (record.visibleAt <= at) {
        if (!record.archived) rows.push(record);
        continue;
      }
      const view = record.searchable;
      if (view && !view.archived) rows.push({ ...view, id: record.id, createdAt: record.createdAt });
    }
    const { total, page, nextAfter, properties } = searchRows(objectType, body, rows);
    return jsonReply(200, {
      total,
      results: page.map((row) => this.view(row, objectType, properties, row.createdAt)),
      ...(nextAfter === null ? {} : { paging: { next: { after: String(nextAfter), link: '' } } }),
    });
  }
}
