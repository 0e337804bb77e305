import { createHash } from 'node:crypto';
import type {
  ChangeSource,
  ConnectorDescriptor,
  ConnectorObject,
  RecordWrite,
  RecordWriter,
  VendorRecord,
  WriteOutcome,
} from '../connector';
import { compareIds } from '../../changes/change-page';
import { mailchimpClient, type MailchimpClient } from './mailchimp-client';

const MEMBER_STATUSES = ['subscribed', 'unsubscribed', 'cleaned', 'pending', 'transactional'] as const;

/** Merge fields are the list's own; these are Mailchimp's defaults plus COMPANY, which most B2B audiences add. */
const MERGE_FIELDS = ['FNAME', 'LNAME', 'PHONE', 'COMPANY'] as const;

/**
 * Mailchimp's Marketing API 3.0, audience members: an email platform rather than a CRM. It brings what a CRM does
 * not: a subscription status that is consent (never set by sync for an existing member, and `transactional` for one
 * sync creates, so nobody is subscribed to marketing without having said yes), merge fields that each list declares,
 * member ids that are a hash of the email, and `last_changed` at second precision, so thousands of members share one
 * modification time after an import.
 */
export const MAILCHIMP: ConnectorDescriptor = {
  kind: 'mailchimp',
  vendor: 'Mailchimp',
  apiVersion: '3.0',
  apiSunsetAt: null,
  capabilities: ['read-changes', 'write', 'erase'],
  objects: [
    {
      entity: 'contact',
      vendorObject: 'members',
      fields: {
        email_address: { type: 'email', canonical: 'email', required: true },
        // Consent, the person's own: read into the golden record, never written by sync.
        status: { type: 'picklist', options: MEMBER_STATUSES, canonical: 'emailStatus', readOnly: true },
        FNAME: { type: 'string', canonical: 'firstName' },
        LNAME: { type: 'string', canonical: 'lastName' },
        PHONE: { type: 'phone', canonical: 'phone' },
        COMPANY: { type: 'string', canonical: 'company' },
        last_changed: { type: 'datetime', readOnly: true },
      },
    },
  ],
  // Mailchimp allows 10 simultaneous connections per user and no fixed rate; ten calls a second keeps well inside.
  rateLimits: { requests: { requests: 10, perMs: 1_000 } },
};

/** What a Mailchimp connection holds: an API key (`<key>-<dc>`) and the audience (list) it syncs. */
export interface MailchimpCredentials {
  apiKey: string;
  listId: string;
}

/** Mailchimp pages members by 1,000 at most. */
const PAGE = 1_000;
/** Mailchimp's batch subscribe takes 500 members a call. */
const BATCH = 500;
const SECOND = 1_000;
/** Reads of one second that may find it changing (members edited away from it) before the poll gives up for now. */
const SECOND_READS = 3;
/** Only what a record needs: a member's full answer carries stats, location, tags and links besides. */
const MEMBER_FIELDS = [
  'members.id',
  'members.email_address',
  'members.status',
  'members.merge_fields',
  'members.last_changed',
  'members.timestamp_signup',
  'total_items',
];

type Member = {
  id: string;
  email_address: string;
  status: string;
  merge_fields: Record<string, unknown>;
  last_changed: string;
  timestamp_signup?: string;
};

function recordOf(member: Member): VendorRecord {
  const fields: Record<string, string | null> = {
    email_address: member.email_address,
    status: member.status,
  };
  for (const tag of MERGE_FIELDS) {
    const value = member.merge_fields[tag];
    fields[tag] = value === undefined || value === '' ? null : String(value as string | number);
  }
  const modifiedAt = Date.parse(member.last_changed);
  return {
    id: member.id,
    modifiedAt,
    createdAt: member.timestamp_signup ? Date.parse(member.timestamp_signup) : modifiedAt,
    fields,
  };
}

const iso = (ms: number) => new Date(ms).toISOString();
const wholeSecond = (ms: number) => ms - (ms % SECOND);

/**
 * Change capture from an audience, through the official SDK: members by `last_changed`, which Mailchimp filters with
 * `since_last_changed` and `before_last_changed`, both exclusive as its docs word them ("changed after", "changed
 * before"), and sorts with ties in no promised order. Mailchimp cannot ask for ids after one, so `modifiedAt` reads
 * its second whole (by offset, 1,000 a call), orders it by id here and answers `limit` of those past the cursor's id.
 * That still terminates: a second that has passed only loses members (Mailchimp stamps a change with the time it is
 * made), so the set read is finite, each call answers ids strictly after the last one and `nextChangePage` moves its
 * cursor to the last id answered; the second is used up after its size / `limit` calls, and `modifiedBetween` then
 * starts strictly after it. The second is read once per walk through it (kept until the walk enters another).
 */
export class MailchimpChangeSource implements ChangeSource {
  private readonly client: MailchimpClient;
  /** The second the walk is in, read whole and in id order. */
  private second: { at: number; records: VendorRecord[] } | undefined;

  constructor(
    baseUrl: string,
    private readonly credentials: MailchimpCredentials,
  ) {
    this.client = mailchimpClient(baseUrl, credentials.apiKey);
  }

  async check(): Promise<void> {
    await this.client.ping.get();
    // The list must exist too: its merge fields are a read the types of the SDK know.
    await this.client.lists.getListMergeFields(this.credentials.listId);
  }

  /** Members by id, one call each (Mailchimp has no batch read); members that are gone are left out. */
  async read(_object: ConnectorObject, ids: readonly string[]): Promise<VendorRecord[]> {
    const records: VendorRecord[] = [];
    for (const id of ids)
      try {
        records.push(
          recordOf((await this.client.lists.getListMember(this.credentials.listId, id)) as Member),
        );
      } catch (error) {
        if (failureOf(error).status !== 404) throw error;
      }
    return records;
  }

  async modifiedAt(
    _object: ConnectorObject,
    at: number,
    afterId: string,
    limit: number,
  ): Promise<VendorRecord[]> {
    // No member changes between whole seconds.
    if (at !== wholeSecond(at)) return [];
    if (afterId === '' || this.second?.at !== at) this.second = { at, records: await this.readSecond(at) };
    return this.second.records.filter((r) => compareIds(r.id, afterId) > 0).slice(0, limit);
  }

  async modifiedBetween(
    _object: ConnectorObject,
    from: number,
    until: number,
    limit: number,
  ): Promise<VendorRecord[]> {
    // Exclusive both ways: after `from`, and before the second after `until`'s (so `until`'s own second counts).
    const before = wholeSecond(until) + SECOND;
    if (from >= before) return [];
    const { members } = await this.page({ since: from, before, offset: 0, count: Math.min(limit, PAGE) });
    return members.map(recordOf).filter((r) => r.modifiedAt > from && r.modifiedAt <= until);
  }

  /** Mailchimp's `total_items` for the window: the backfill's progress total. */
  async count(_object: ConnectorObject, from: number, until: number): Promise<number> {
    const before = wholeSecond(until) + SECOND;
    if (from >= before) return 0;
    return (await this.page({ since: from, before, offset: 0, count: 1 })).total;
  }

  /**
   * Every member changed in second `at`, in id order. Offset paging over a list that changes can skip: a member edited
   * away from the second mid-read shifts the rest one place back, and the one at the page's edge is never answered.
   * `total_items` gives it away (it moves, or fewer distinct members came than it said), and the second is read again.
   */
  private async readSecond(at: number): Promise<VendorRecord[]> {
    for (let read = 1; ; read += 1) {
      const members = new Map<string, Member>();
      const totals = new Set<number>();
      for (let offset = 0; ; offset += PAGE) {
        const page = await this.page({ since: at - SECOND, before: at + SECOND, offset });
        totals.add(page.total);
        for (const member of page.members) members.set(member.id, member);
        if (page.members.length < PAGE || offset + PAGE >= page.total) break;
      }
      const [total] = totals;
      if (totals.size === 1 && members.size === total)
        return [...members.values()]
          .map(recordOf)
          .filter((r) => r.modifiedAt === at)
          .sort((a, b) => compareIds(a.id, b.id));
      if (read === SECOND_READS)
        throw new Error(
          `Mailchimp's members changed at ${iso(at)} kept changing while read; the next poll reads on`,
        );
    }
  }

  private async page(query: {
    since: number;
    before: number;
    offset: number;
    count?: number;
  }): Promise<{ members: Member[]; total: number }> {
    const answer = (await this.client.lists.getListMembersInfo(this.credentials.listId, {
      fields: MEMBER_FIELDS,
      count: query.count ?? PAGE,
      offset: query.offset,
      sinceLastChanged: iso(query.since),
      beforeLastChanged: iso(query.before),
      sortField: 'last_changed',
      sortDir: 'ASC',
    } as Parameters<MailchimpClient['lists']['getListMembersInfo']>[1])) as {
      members: Member[];
      total_items: number;
    };
    return { members: answer.members, total: answer.total_items };
  }
}

/** How the SDK fails: superagent's error with the HTTP status and Mailchimp's problem+json body. */
function failureOf(error: unknown): { status: number; reason: string; retryable: boolean } {
  const failure = error as { status?: number; response?: { body?: { detail?: string; title?: string } } };
  const status = typeof failure.status === 'number' ? failure.status : 0;
  const body = failure.response?.body;
  const reason = body?.detail ?? body?.title ?? (error instanceof Error ? error.message : String(error));
  return { status, reason: reason.slice(0, 500), retryable: status === 0 || status === 429 || status >= 500 };
}

/**
 * Writes to an audience: members sync lacks are created by batch subscribe (500 a call) as `transactional`, and
 * known members are updated one PATCH each with only their changed merge fields; a null clears the merge field. The
 * status is never written: batch subscribe needs one per member and, with `update_existing` on, would overwrite an
 * existing member's consent, so it stays off and a member found to exist is updated by PATCH instead. One member
 * Mailchimp refuses fails alone (400, not retried); 429 and 5xx fail the call's members as retryable. Erasure is
 * Mailchimp's permanent delete, a member already gone no error.
 */
export class MailchimpRecordWriter implements RecordWriter {
  private readonly client: MailchimpClient;

  constructor(
    baseUrl: string,
    private readonly credentials: MailchimpCredentials,
  ) {
    this.client = mailchimpClient(baseUrl, credentials.apiKey);
  }

  async write(_object: ConnectorObject, records: readonly RecordWrite[]): Promise<WriteOutcome[]> {
    const creates = records.filter((r) => r.externalId === null);
    const outcomes: WriteOutcome[] = [];
    for (let i = 0; i < creates.length; i += BATCH)
      outcomes.push(...(await this.create(creates.slice(i, i + BATCH))));
    for (const record of records.filter((r) => r.externalId !== null))
      outcomes.push(await this.update(record));
    return outcomes;
  }

  async erase(_object: ConnectorObject, externalId: string): Promise<void> {
    try {
      await this.client.lists.deleteListMemberPermanent(this.credentials.listId, externalId);
    } catch (error) {
      if (failureOf(error).status !== 404) throw error;
    }
  }

  private async create(records: readonly RecordWrite[]): Promise<WriteOutcome[]> {
    const missing = records.filter((r) => !r.fields['email_address']);
    const sendable = records.filter((r) => r.fields['email_address']);
    const outcomes: WriteOutcome[] = missing.map((r) => ({
      ref: r.ref,
      ok: false,
      status: 400,
      reason: 'email_address: a member needs an email address',
      retryable: false,
    }));
    if (sendable.length === 0) return outcomes;
    try {
      const answer = (await this.client.lists.batchListMembers(this.credentials.listId, {
        members: sendable.map((r) => ({
          email_address: r.fields['email_address'] as string,
          email_type: 'html',
          status: 'transactional' as const,
          merge_fields: mergeFieldsOf(r.fields),
        })),
        update_existing: false,
      })) as {
        new_members?: Member[];
        errors?: { email_address: string; error: string; error_code: string; field?: string }[];
      };
      const created = new Map((answer.new_members ?? []).map((m) => [m.email_address.toLowerCase(), m]));
      const refused = new Map((answer.errors ?? []).map((e) => [e.email_address.toLowerCase(), e]));
      for (const record of sendable) {
        const email = (record.fields['email_address'] as string).toLowerCase();
        const member = created.get(email);
        const error = refused.get(email);
        if (member)
          outcomes.push({
            ref: record.ref,
            ok: true,
            externalId: member.id,
            modifiedAt: Date.parse(member.last_changed),
          });
        else if (error?.error_code === 'ERROR_CONTACT_EXISTS')
          // Already in the audience (added there by someone else): update it, keeping its status.
          outcomes.push(await this.update({ ...record, externalId: null }, email));
        else
          outcomes.push({
            ref: record.ref,
            ok: false,
            status: 400,
            reason: `${error?.error_code ?? 'ERROR_GENERIC'}${error?.field ? ` ${error.field}` : ''}: ${error?.error ?? 'not created'}`,
            retryable: false,
          });
      }
      return outcomes;
    } catch (error) {
      const failure = failureOf(error);
      return [...outcomes, ...sendable.map((r) => ({ ref: r.ref, ok: false as const, ...failure }))];
    }
  }

  private async update(record: RecordWrite, email?: string): Promise<WriteOutcome> {
    const hash = record.externalId ?? subscriberHashOf(email ?? '');
    const body = {
      ...(record.fields['email_address'] ? { email_address: record.fields['email_address'] } : {}),
      merge_fields: mergeFieldsOf(record.fields),
    };
    try {
      const member = (await this.client.lists.updateListMember(
        this.credentials.listId,
        hash,
        body as Parameters<MailchimpClient['lists']['updateListMember']>[2],
      )) as Member;
      return {
        ref: record.ref,
        ok: true,
        externalId: member.id,
        modifiedAt: Date.parse(member.last_changed),
      };
    } catch (error) {
      return { ref: record.ref, ok: false, ...failureOf(error) };
    }
  }
}

function mergeFieldsOf(fields: Readonly<Record<string, string | null>>): Record<string, string> {
  const merge: Record<string, string> = {};
  for (const tag of MERGE_FIELDS) if (tag in fields) merge[tag] = fields[tag] ?? '';
  return merge;
}

/** Mailchimp's member id: the MD5 of the lowercased email. */
const subscriberHashOf = (email: string) =>
  createHash('md5').update(email.trim().toLowerCase()).digest('hex');
