import type { Client } from '@hubspot/api-client';
import type { ConnectorObject, RecordWrite, RecordWriter, WriteOutcome } from '../connector';
import { hubSpotClient, type HubSpotBuckets, type HubSpotClientOptions } from './hubspot-client';
import { HUBSPOT_LIMITS } from './hubspot.connector';

/** HubSpot's object APIs take at most 100 inputs a batch. */
export const HUBSPOT_BATCH = 100;

type BatchAnswer = Awaited<ReturnType<Client['crm']['objects']['batchApi']['create']>>;
type Written = BatchAnswer['results'][number];

/** One record on its way: its place in the caller's list, and the HubSpot id it updates (null: it is created). */
interface Pending {
  index: number;
  write: RecordWrite;
  id: string | null;
}

/** HubSpot's answer to a call, or to one input of a batch: status, message, and its rate-limit policy if any. */
interface Refusal {
  status: number;
  message: string;
  policy?: string;
}

/** The status a batch's per-input error stands for (HubSpot gives a category, not a status). */
const CATEGORY_STATUS: Readonly<Record<string, number>> = {
  VALIDATION_ERROR: 400,
  OBJECT_NOT_FOUND: 404,
  CONFLICT: 409,
};

/**
 * Answers that say nothing against the records themselves: no answer (0), credentials or scopes refused, a lock or a
 * migration, rate limits, HubSpot's own failures. The whole batch may go again later.
 */
const transient = (status: number) => [0, 401, 403, 408, 423, 429, 477].includes(status) || status >= 500;

function refusalOf(error: unknown): Refusal {
  const { code, body } = (error ?? {}) as { code?: unknown; body?: unknown };
  if (typeof code !== 'number')
    return { status: 0, message: error instanceof Error ? error.message : 'no answer' };
  const answer = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const message = typeof answer['message'] === 'string' ? answer['message'] : `HTTP ${code}`;
  const policy = typeof answer['policyName'] === 'string' ? answer['policyName'] : undefined;
  return { status: code, message, ...(policy ? { policy } : {}) };
}

/**
 * HubSpot's message, its "Property values were not valid: [...]" made readable: each refused property by name, with
 * HubSpot's words and code (`email: Email address x is invalid (INVALID_EMAIL)`).
 */
export function reasonOf(message: string): string {
  const list = /^Property values were not valid: (\[.*\])$/s.exec(message)?.[1];
  if (list === undefined) return message;
  try {
    const problems = JSON.parse(list) as { name?: string; message?: string; error?: string }[];
    return problems.map((p) => `${p.name ?? '?'}: ${p.message ?? ''} (${p.error ?? 'INVALID'})`).join('; ');
  } catch {
    return message;
  }
}

const chunks = <T>(items: readonly T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

/**
 * Updates in batches of 100 where no record appears twice (HubSpot refuses a batch naming an id twice): a later
 * write of a record lands in a later batch, so writes to one record keep their order.
 */
function updateBatches(items: readonly Pending[]): Pending[][] {
  const batches: { items: Pending[]; ids: Set<string | null> }[] = [];
  for (const item of items) {
    let batch = batches.find((b) => b.items.length < HUBSPOT_BATCH && !b.ids.has(item.id));
    if (!batch) batches.push((batch = { items: [], ids: new Set() }));
    batch.items.push(item);
    batch.ids.add(item.id);
  }
  return batches.map((b) => b.items);
}

/**
 * Writes to HubSpot's CRM v3 through its official SDK's batch APIs, with the same limiter as change capture (90% of
 * HubSpot's non-search limit) and the SDK's own retries of 429 and 5xx.
 *
 * Each input carries an `objectWriteTraceId`, so a batch create answers 207 naming each refused input; a batch
 * HubSpot refuses as a whole (an update with one invalid input, or an answer naming no input) is halved until the
 * refused records stand alone, so every other record is written. A create refused because the email belongs to a
 * contact ("Contact already exists. Existing ID: 123") becomes an update of that contact. Outcomes carry HubSpot's id
 * and the record's new `lastmodifieddate`. A 429, 5xx or lost answer that outlasts the SDK's retries comes back as
 * retryable outcomes for that batch, never tried again here. A 429 batch wrote nothing; after a 5xx or a lost answer
 * it may have, and a contact created then is found again by its email on the caller's retry (a company is not).
 */
export class HubSpotRecordWriter implements RecordWriter {
  private readonly calls: Client;

  constructor(
    baseUrl: string,
    accessToken: string,
    options: HubSpotClientOptions & { limits?: HubSpotBuckets } = {},
  ) {
    this.calls = hubSpotClient(
      baseUrl,
      accessToken,
      'requests',
      (options.limits ?? HUBSPOT_LIMITS).requests,
      options,
    );
  }

  async write(object: ConnectorObject, records: readonly RecordWrite[]): Promise<WriteOutcome[]> {
    const outcomes: (WriteOutcome | undefined)[] = records.map(() => undefined);
    const creates: Pending[] = [];
    const updates: Pending[] = [];
    records.forEach((write, index) =>
      (write.externalId === null ? creates : updates).push({ index, write, id: write.externalId }),
    );
    // Creates first: one that meets an existing contact joins the updates.
    for (const batch of chunks(creates, HUBSPOT_BATCH)) await this.send(object, batch, outcomes, updates);
    for (const batch of updateBatches(updates)) await this.send(object, batch, outcomes, updates);
    return outcomes.map(
      (outcome, i) =>
        outcome ?? {
          ref: (records[i] as RecordWrite).ref,
          ok: false,
          status: 0,
          reason: 'not written',
          retryable: true,
        },
    );
  }

  async erase(object: ConnectorObject, externalId: string): Promise<void> {
    try {
      // HubSpot's GDPR delete is for contacts; other objects go to the recycle bin (archive) and no further.
      if (object.vendorObject === 'contacts')
        await this.calls.crm.contacts.basicApi.purge({ objectId: externalId });
      else await this.calls.crm.objects.basicApi.archive(object.vendorObject, externalId);
    } catch (error) {
      if (refusalOf(error).status !== 404) throw error;
    }
  }

  async merge(object: ConnectorObject, primaryId: string, mergedId: string): Promise<string> {
    const input = { primaryObjectId: primaryId, objectIdToMerge: mergedId };
    const crm = this.calls.crm;
    if (object.vendorObject === 'contacts') return (await crm.contacts.basicApi.merge(input)).id;
    if (object.vendorObject === 'companies') return (await crm.companies.basicApi.merge(input)).id;
    throw new Error(`HubSpot has no merge for ${object.vendorObject}`);
  }

  /** Sends one batch (all creates or all updates) and settles each of its records, halving a batch refused whole. */
  private async send(
    object: ConnectorObject,
    items: readonly Pending[],
    outcomes: (WriteOutcome | undefined)[],
    updates: Pending[],
  ): Promise<void> {
    if (items.length === 0) return;
    const batchApi = this.calls.crm.objects.batchApi;
    const creating = items[0]?.id === null;
    let answer: BatchAnswer;
    try {
      answer = creating
        ? await batchApi.create(object.vendorObject, {
            inputs: items.map((item, i) => ({
              properties: this.properties(object, item.write, true),
              objectWriteTraceId: String(i),
              associations: [],
            })),
          })
        : await batchApi.update(object.vendorObject, {
            inputs: items.map((item, i) => ({
              id: item.id as string,
              properties: this.properties(object, item.write, false),
              objectWriteTraceId: String(i),
            })),
          });
    } catch (error) {
      const refusal = refusalOf(error);
      if (transient(refusal.status)) {
        for (const item of items) this.refuse(item, refusal, true, outcomes, updates);
      } else if (items.length === 1) {
        this.refuse(items[0] as Pending, refusal, false, outcomes, updates);
      } else {
        const half = Math.ceil(items.length / 2);
        await this.send(object, items.slice(0, half), outcomes, updates);
        await this.send(object, items.slice(half), outcomes, updates);
      }
      return;
    }

    const byTrace = new Map(items.map((item, i) => [String(i), item]));
    const byId = new Map(items.map((item) => [item.id, item]));
    const byEmail = new Map(items.map((item) => [item.write.fields['email']?.toLowerCase(), item]));
    const settled = new Set<Pending>();
    let unmatched = 0;
    for (const result of answer.results) {
      // HubSpot's results are in no particular order: matched by trace id, else by id or (a create) email.
      const item =
        byTrace.get(result.objectWriteTraceId ?? '') ??
        (creating ? byEmail.get(result.properties['email']?.toLowerCase() ?? '') : byId.get(result.id));
      if (!item || settled.has(item)) unmatched += 1;
      else {
        outcomes[item.index] = this.written(item, result);
        settled.add(item);
      }
    }
    for (const error of 'errors' in answer ? (answer.errors ?? []) : []) {
      const context = error.context ?? {};
      const named = [
        ...(context['objectWriteTraceId'] ?? []).map((trace) => byTrace.get(trace)),
        ...(context['ids'] ?? []).map((id) => byId.get(id)),
      ];
      const refusal = { status: CATEGORY_STATUS[error.category] ?? 400, message: error.message };
      for (const item of named)
        if (item && !settled.has(item)) {
          this.refuse(item, refusal, false, outcomes, updates);
          settled.add(item);
        }
    }

    const rest = items.filter((item) => !settled.has(item));
    if (rest.length === 0) return;
    if (unmatched > 0) {
      // Written or not, HubSpot's answer does not say: sending them again could write them twice.
      const refusal = { status: 207, message: "HubSpot's answer did not say what became of this record" };
      for (const item of rest) this.refuse(item, refusal, false, outcomes, updates);
    } else if (rest.length < items.length) {
      await this.send(object, rest, outcomes, updates);
    } else if (rest.length > 1) {
      const half = Math.ceil(rest.length / 2);
      await this.send(object, rest.slice(0, half), outcomes, updates);
      await this.send(object, rest.slice(half), outcomes, updates);
    } else {
      const refusal = { status: 207, message: 'HubSpot refused this record without saying why' };
      this.refuse(rest[0] as Pending, refusal, false, outcomes, updates);
    }
  }

  /** The record's writable fields as HubSpot properties; an update clears a property with the empty string. */
  private properties(object: ConnectorObject, write: RecordWrite, creating: boolean): Record<string, string> {
    const properties: Record<string, string> = {};
    for (const [name, value] of Object.entries(write.fields)) {
      const field = object.fields[name];
      if (!field || field.readOnly || (creating && value === null)) continue;
      properties[name] = value ?? '';
    }
    return properties;
  }

  private written(item: Pending, result: Written): WriteOutcome {
    return {
      ref: item.write.ref,
      ok: true,
      externalId: result.id,
      modifiedAt: Date.parse(result.properties['lastmodifieddate'] ?? '') || result.updatedAt.getTime(),
    };
  }

  /** A refused record's outcome, or (a create whose email a contact has) an update of that contact instead. */
  private refuse(
    item: Pending,
    refusal: Refusal,
    retryable: boolean,
    outcomes: (WriteOutcome | undefined)[],
    updates: Pending[],
  ): void {
    const existing = /Existing ID: (\d+)/.exec(refusal.message)?.[1];
    if (item.id === null && refusal.status === 409 && existing !== undefined) {
      updates.push({ ...item, id: existing });
      return;
    }
    const policy = refusal.policy ? ` (${refusal.policy})` : '';
    outcomes[item.index] = {
      ref: item.write.ref,
      ok: false,
      status: refusal.status,
      reason: retryable
        ? `HubSpot answered ${refusal.status}${policy}: ${refusal.message}`
        : reasonOf(refusal.message),
      retryable,
    };
  }
}
