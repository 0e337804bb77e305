import type { RecordChanged } from '@tributary/contracts';
import type { FieldProblem } from '../../leads/field-problem';
import { emailAddress } from '../../leads/lead-form';

/** A dot path into a payload, e.g. `default_address.company` or `line_items.0.sku`. */
export type FieldPath = string;

/** How a value is read: `string` also takes numbers (Shopify and HubSpot ids are numbers); times become epoch ms. */
export type Coercion = 'string' | 'email' | 'epochMs';

/** One domain field: the first path holding a value wins. */
export interface FieldRule {
  from: FieldPath | readonly FieldPath[];
  as?: Coercion;
  required?: boolean;
}

/** A consent answer: granted when the value at `from` is one of `grantedWhen`; absent when the path is empty. */
export interface ConsentRule {
  from: FieldPath;
  grantedWhen: readonly (string | boolean)[];
}

/** Payload → `leads.captured`. */
export interface LeadMapping {
  produces: 'leads.captured';
  externalId: FieldRule;
  email?: FieldRule;
  firstName?: FieldRule;
  lastName?: FieldRule;
  company?: FieldRule;
  consents?: Readonly<Record<string, ConsentRule>>;
  occurredAt?: FieldRule;
}

/** Changed fields: a table of domain field → path, or one property whose name and value are in the payload. */
export type FieldsRule =
  { pick: Readonly<Record<string, FieldPath>> } | { property: { name: FieldPath; value: FieldPath } };

/** Payload → `records.changed`. */
export interface RecordMapping {
  produces: 'records.changed';
  objectType: string;
  operation: RecordChanged['operation'];
  externalId: FieldRule;
  changedAt?: FieldRule;
  fields: FieldsRule;
}

export type EventMapping = LeadMapping | RecordMapping;

/** A source's mapping table, by its event type (HubSpot subscriptionType, Shopify topic). */
export type SourceMappings = Readonly<Record<string, EventMapping>>;

export interface MappedLead {
  kind: 'lead';
  externalId: string;
  email: string | null;
  firstName: string | null;
  lastName: string | null;
  company: string | null;
  consents: Record<string, boolean>;
  occurredAt: number | null;
}

export interface MappedRecord {
  kind: 'record';
  objectType: string;
  operation: RecordChanged['operation'];
  externalId: string;
  changedAt: number | null;
  fields: Record<string, unknown>;
}

export type MappingResult =
  { ok: true; value: MappedLead | MappedRecord } | { ok: false; problems: FieldProblem[] };

const MAX_STRING = 1_000;

/** Reads a dot path through objects and arrays, own properties only (no prototype walking from payload keys). */
export function valueAt(payload: unknown, path: FieldPath): unknown {
  let node: unknown = payload;
  for (const segment of path.split('.')) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, segment)) return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

function isEmpty(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

function coerce(
  value: unknown,
  as: Coercion,
): { ok: true; value: string | number } | { ok: false; reason: string } {
  switch (as) {
    case 'string':
      if (typeof value === 'number' && Number.isFinite(value)) return { ok: true, value: String(value) };
      if (typeof value !== 'string') return { ok: false, reason: 'must be a string or a number' };
      if (value.length > MAX_STRING) return { ok: false, reason: `must be at most ${MAX_STRING} characters` };
      return { ok: true, value: value.trim() };
    case 'email': {
      const parsed = emailAddress.safeParse(value);
      return parsed.success
        ? { ok: true, value: parsed.data }
        : { ok: false, reason: 'must be a valid email address' };
    }
    case 'epochMs': {
      const ms = typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : NaN;
      return Number.isSafeInteger(ms) && ms >= 0
        ? { ok: true, value: ms }
        : { ok: false, reason: 'must be an ISO-8601 date-time or epoch milliseconds' };
    }
  }
}

class FieldReader {
  readonly problems: FieldProblem[] = [];
  constructor(private readonly payload: unknown) {}

  read(rule: FieldRule | undefined, as: Coercion = 'string'): string | number | null {
    if (!rule) return null;
    const paths = typeof rule.from === 'string' ? [rule.from] : rule.from;
    const path = paths.find((p) => !isEmpty(valueAt(this.payload, p)));
    if (path === undefined) {
      if (rule.required) this.problems.push({ field: paths.join(' | '), reason: 'is required' });
      return null;
    }
    const result = coerce(valueAt(this.payload, path), rule.as ?? as);
    if (!result.ok) {
      this.problems.push({ field: path, reason: result.reason });
      return null;
    }
    return result.value;
  }

  string(rule: FieldRule | undefined): string | null {
    const value = this.read(rule);
    return value === null ? null : String(value);
  }

  time(rule: FieldRule | undefined): number | null {
    const value = this.read(rule, 'epochMs');
    return typeof value === 'number' ? value : null;
  }
}

function mapLead(mapping: LeadMapping, payload: unknown, reader: FieldReader): MappedLead {
  const consents: Record<string, boolean> = {};
  for (const [purpose, rule] of Object.entries(mapping.consents ?? {})) {
    const answer = valueAt(payload, rule.from);
    if (!isEmpty(answer)) consents[purpose] = rule.grantedWhen.some((granted) => granted === answer);
  }
  return {
    kind: 'lead',
    externalId: reader.string({ ...mapping.externalId, required: true }) ?? '',
    email: reader.string(mapping.email && { as: 'email', ...mapping.email }),
    firstName: reader.string(mapping.firstName),
    lastName: reader.string(mapping.lastName),
    company: reader.string(mapping.company),
    consents,
    occurredAt: reader.time(mapping.occurredAt),
  };
}

function mapFields(rule: FieldsRule, payload: unknown, reader: FieldReader): Record<string, unknown> {
  if ('property' in rule) {
    const name = reader.string({ from: rule.property.name, required: true });
    return name === null ? {} : { [name]: valueAt(payload, rule.property.value) ?? null };
  }
  const fields: Record<string, unknown> = {};
  for (const [field, path] of Object.entries(rule.pick)) {
    const value = valueAt(payload, path);
    if (value !== undefined) fields[field] = value;
  }
  return fields;
}

function mapRecord(mapping: RecordMapping, payload: unknown, reader: FieldReader): MappedRecord {
  return {
    kind: 'record',
    objectType: mapping.objectType,
    operation: mapping.operation,
    externalId: reader.string({ ...mapping.externalId, required: true }) ?? '',
    changedAt: reader.time(mapping.changedAt),
    fields: mapFields(mapping.fields, payload, reader),
  };
}

/** Applies a declarative mapping to one webhook payload; names every field it could not read (never throws). */
export function applyMapping(mapping: EventMapping, payload: unknown): MappingResult {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    return { ok: false, problems: [{ field: '(body)', reason: 'must be a JSON object' }] };
  }
  const reader = new FieldReader(payload);
  const value =
    mapping.produces === 'leads.captured'
      ? mapLead(mapping, payload, reader)
      : mapRecord(mapping, payload, reader);
  return reader.problems.length > 0 ? { ok: false, problems: reader.problems } : { ok: true, value };
}
