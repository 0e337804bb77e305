import { createHash } from 'node:crypto';
import { Topics, type EventMetadata, type RecordChanged } from '@tributary/contracts';
import { causedMetadata, fastUuidV5, type OutgoingEvent } from '@tributary/messaging';
import {
  goldenKeyOf,
  type GoldenChangeCause,
  type GoldenEntity,
  type GoldenFieldChange,
  type GoldenRecordDoc,
  type PendingAnnouncement,
} from './golden-record.model';
import {
  MANUAL_SOURCE,
  applyChange,
  emptyFieldState,
  mergeLock,
  survivingValue,
  type FieldState,
  type SurvivorshipRules,
} from './survivorship';

/** The lead pipeline as a source of golden-record values: its contacts' profile attributes. */
export const LEADS_SOURCE = 'leads';

/** Lead profile attributes (LeadScored.attributes) that are golden contact fields, by the same name. */
export const LEAD_FIELDS = [
  'email',
  'firstName',
  'lastName',
  'phone',
  'company',
  'title',
  'country',
  'industry',
];

/** A write outbound sync made to a system's record. */
export interface WrittenRecord {
  workspaceId: string;
  entity: GoldenEntity;
  system: string;
  externalId: string;
  goldenId: string;
  /** The vendor fields written, with the values written. */
  fields: Record<string, string | null>;
  /** The vendor's modification time of the write. */
  at: number;
  /** The write created the record. */
  created: boolean;
}

/** A source's change of one golden record, whatever it came as. */
export interface SourceChange {
  metadata: EventMetadata;
  entity: GoldenEntity;
  /** The source: a connector kind (hubspot), `leads` or `manual`. */
  system: string;
  /** The source's record (null for manual changes). */
  externalId: string | null;
  /** The golden record, when the caller knows it (manual changes). */
  goldenId?: string;
  /** Canonical field values, and the source's own field each came from (for its held-value hash). */
  values: { field: string; value: string | null; sourceField: string }[];
  sourceAt: number;
  cause: GoldenChangeCause;
  locks?: { field: string; locked: boolean }[];
}

export type Keys = { link: string | null; match: string[]; all: string[] };

/** The keys a change is found by: its source record, then its match key (a contact's email, a company's domain). */
export function keysOf(change: SourceChange): Keys {
  const ws = change.metadata.workspaceId;
  const link =
    change.externalId && change.system !== MANUAL_SOURCE
      ? goldenKeyOf(ws, change.entity, change.system, change.externalId)
      : null;
  const matchField = change.entity === 'contact' ? 'email' : 'domain';
  const matchValue = change.values
    .find((v) => v.field === matchField)
    ?.value?.trim()
    .toLowerCase();
  const match = matchValue ? [goldenKeyOf(ws, change.entity, matchField, matchValue)] : [];
  return { link, match, all: [...(link ? [link] : []), ...match] };
}

export function newRecord(id: string, workspaceId: string, entity: GoldenEntity, now: Date): GoldenRecordDoc {
  return {
    _id: id,
    workspaceId,
    entity,
    fields: {},
    values: {},
    provenance: {},
    links: [],
    mergedInto: null,
    erasedAt: null,
    outbox: [],
    version: 0,
    createdAt: now,
    updatedAt: now,
  };
}

/** The surviving values and provenance of a record's field states under the rules. */
export function withFields(
  rules: SurvivorshipRules,
  fields: Record<string, FieldState>,
): Pick<GoldenRecordDoc, 'fields' | 'values' | 'provenance'> {
  const values: Record<string, string> = {};
  const provenance: GoldenRecordDoc['provenance'] = {};
  for (const [field, state] of Object.entries(fields)) {
    const surviving = survivingValue(rules, field, state);
    if (!surviving || surviving.value === null) continue;
    values[field] = surviving.value;
    provenance[field] = { source: surviving.source, sourceAt: surviving.sourceAt, rule: surviving.rule };
  }
  return { fields, values, provenance };
}

export function changesBetween(
  before: Readonly<Record<string, string>>,
  next: Pick<GoldenRecordDoc, 'values' | 'provenance'>,
): GoldenFieldChange[] {
  const fields = unique([...Object.keys(before), ...Object.keys(next.values)]).sort();
  return fields.flatMap((field) => {
    const value = next.values[field] ?? null;
    const previous = before[field] ?? null;
    if (value === previous) return [];
    const provenance = next.provenance[field];
    return [
      {
        field,
        value,
        previous,
        source: provenance?.source ?? null,
        sourceAt: provenance?.sourceAt ?? null,
        rule: provenance?.rule ?? null,
      },
    ];
  });
}

export function pending(
  metadata: EventMetadata,
  eventId: string,
  cause: GoldenChangeCause,
  causeSystem: string | null,
  causeExternalId: string | null,
  changes: GoldenFieldChange[],
  conflicts: PendingAnnouncement['conflicts'],
  version: number,
  mergedGoldenId: string | null,
): PendingAnnouncement {
  return {
    eventId,
    metadata: { correlationId: metadata.correlationId, causationId: metadata.eventId },
    cause,
    causeSystem,
    causeExternalId,
    at: metadata.occurredAt,
    changes,
    conflicts,
    mergedGoldenId,
    version,
  };
}

export function goldenChangeEvent(
  doc: GoldenRecordDoc,
  item: PendingAnnouncement,
): OutgoingEvent<typeof Topics.GoldenRecordsChanged> {
  return {
    topic: Topics.GoldenRecordsChanged,
    key: doc._id,
    event: {
      metadata: {
        eventId: item.eventId,
        occurredAt: item.at,
        workspaceId: doc.workspaceId,
        source: 'sync',
        correlationId: item.metadata.correlationId,
        causationId: item.metadata.causationId,
      },
      goldenId: doc._id,
      entity: doc.entity,
      cause: item.cause,
      causeSystem: item.causeSystem,
      causeExternalId: item.causeExternalId,
      changes: item.changes,
      values: doc.values,
      links: doc.links,
      mergedGoldenId: item.mergedGoldenId,
      version: item.version,
    },
  };
}

export const conflictingValue = (v: { value: string | null; source: string; sourceAt: number }) => ({
  value: v.value,
  source: v.source,
  sourceAt: v.sourceAt,
});

export function rejection(
  record: RecordChanged,
  first: { field: string; reason: string },
  problems: { field: string; reason: string }[],
): OutgoingEvent<typeof Topics.SyncRecordsRejected> {
  return {
    topic: Topics.SyncRecordsRejected,
    key: `${record.system}:${record.objectType}:${record.externalId}`,
    event: {
      metadata: causedMetadata(record.metadata, 'sync', 'rejected'),
      system: record.system,
      objectType: record.objectType,
      externalId: record.externalId,
      field: first.field,
      reason: first.reason,
      problems,
      fieldsJson: record.fieldsJson,
      changeEventId: record.metadata.eventId,
    },
  };
}

export function parseFields(json: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(json);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** Emails compare lowercased: the lead pipeline and vendors disagree on case. */
export function normalized(field: string, value: string | null): string | null {
  const trimmed = value?.trim() ?? '';
  if (trimmed === '') return null;
  return field === 'email' ? trimmed.toLowerCase() : trimmed;
}

export const hashOf = (value: string | null) =>
  createHash('sha256')
    .update(value?.trim() ?? '')
    .digest('base64url')
    .slice(0, 22);

export function unionLinks(
  a: GoldenRecordDoc['links'],
  b: GoldenRecordDoc['links'],
): GoldenRecordDoc['links'] {
  const seen = new Set(a.map((l) => `${l.system}|${l.externalId}`));
  return [...a, ...b.filter((l) => !seen.has(`${l.system}|${l.externalId}`))];
}

export const unique = <T>(values: readonly T[]): T[] => [...new Set(values)];

/**
 * A record with one source change taken in (locks, then the values that are news from that source): the surviving
 * values and provenance decided again, the source's record linked, and, when anything changed, the announcement
 * queued in the outbox with the next version. The record is not changed in place.
 */
export function takeChange(
  doc: GoldenRecordDoc,
  change: SourceChange,
  fresh: SourceChange['values'],
  rules: SurvivorshipRules,
  now: Date,
): GoldenRecordDoc {
  let fields = doc.fields;
  for (const lock of change.locks ?? [])
    fields = {
      ...fields,
      [lock.field]: mergeLock(fields[lock.field] ?? emptyFieldState(), {
        locked: lock.locked,
        at: change.sourceAt,
      }),
    };
  const applied = applyChange(
    rules,
    fields,
    fresh.map((v) => ({
      field: v.field,
      value: v.value,
      source: change.system,
      sourceAt: change.sourceAt,
      eventId: change.metadata.eventId,
    })),
  );
  const next = withFields(rules, applied.fields);
  const externalId = change.system !== MANUAL_SOURCE ? change.externalId : null;
  const linkAdded =
    externalId !== null && !doc.links.some((l) => l.system === change.system && l.externalId === externalId);
  const changes = changesBetween(doc.values, next);
  const announced = changes.length > 0 || applied.conflicts.length > 0 || linkAdded;
  const version = announced ? doc.version + 1 : doc.version;
  return {
    ...doc,
    ...next,
    links:
      linkAdded && externalId !== null ? [...doc.links, { system: change.system, externalId }] : doc.links,
    version,
    updatedAt: now,
    outbox: announced
      ? [
          ...doc.outbox,
          pending(
            change.metadata,
            fastUuidV5(`golden/${doc._id}/${change.metadata.eventId}`),
            change.cause,
            change.system,
            change.externalId,
            changes,
            applied.conflicts,
            version,
            null,
          ),
        ]
      : doc.outbox,
  };
}
