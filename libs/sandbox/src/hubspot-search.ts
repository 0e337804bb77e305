import { createHash } from 'node:crypto';
import { PROPERTIES, ValidationError, isRecord, timeOf, type HubSpotObjectType } from './hubspot-crm';

const OPERATORS = new Set([
  'EQ',
  'NEQ',
  'LT',
  'LTE',
  'GT',
  'GTE',
  'BETWEEN',
  'IN',
  'NOT_IN',
  'HAS_PROPERTY',
  'NOT_HAS_PROPERTY',
  'CONTAINS_TOKEN',
  'NOT_CONTAINS_TOKEN',
]);

/** HubSpot's search caps: a page, the results one search pages through, filter groups and filters. */
const MAX_SEARCH_PAGE = 200;
const MAX_SEARCH_RESULTS = 10_000;
const MAX_FILTER_GROUPS = 5;
const MAX_FILTERS_PER_GROUP = 6;
const MAX_FILTERS = 18;

/**
 * HubSpot's order among records whose sort values tie is not theirs to promise and not by id: the fake orders ties
 * by a hash of the id, so a client that assumes id order within one timestamp fails here as it would there.
 */
export function tieOrder(id: string): string {
  let order = tieOrders.get(id);
  if (order === undefined) {
    // A bench searches 100,000 records a few times a second: hashing each id once keeps the fake off the profile.
    if (tieOrders.size >= MEMO_LIMIT) tieOrders.clear();
    order = createHash('sha1').update(id).digest('hex');
    tieOrders.set(id, order);
  }
  return order;
}

const MEMO_LIMIT = 1_000_000;
const tieOrders = new Map<string, string>();
const times = new Map<string, number>();

/** `timeOf`, remembered: search compares the same stored timestamps on every request. */
function timeOfMemo(raw: string): number {
  let time = times.get(raw);
  if (time === undefined) {
    if (times.size >= MEMO_LIMIT) times.clear();
    time = timeOf(raw);
    times.set(raw, time);
  }
  return time;
}

/** A record as search sees it (its indexed version). */
export interface SearchRow {
  id: string;
  properties: Record<string, string | null>;
}

/**
 * HubSpot's CRM search over `rows` (`POST /crm/v3/objects/<type>/search`): validates the request against HubSpot's caps
 * (200 a page, 10,000 results a search, 5 filter groups of 6 filters and 18 in all, one sort), keeps the rows some
 * filter group matches, sorts them and answers the page asked for, the total, where the next page starts and which
 * properties to show. Throws ValidationError with HubSpot's message for a request it refuses.
 */
export function searchRows<R extends SearchRow>(
  objectType: HubSpotObjectType,
  body: unknown,
  rows: Iterable<R>,
): { total: number; page: R[]; nextAfter: number | null; properties: string[] } {
  if (!isRecord(body)) throw new ValidationError('Invalid input JSON');
  const limit = body['limit'] === undefined ? 10 : Number(body['limit']);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SEARCH_PAGE)
    throw new ValidationError(`limit must be between 1 and ${MAX_SEARCH_PAGE}`);
  const after = body['after'] === undefined || body['after'] === null ? 0 : Number(body['after']);
  if (!Number.isInteger(after) || after < 0)
    throw new ValidationError(`after must be a non-negative integer`);
  if (after + limit > MAX_SEARCH_RESULTS)
    throw new ValidationError(
      `Paging through more than ${MAX_SEARCH_RESULTS} results of one search is not supported; narrow the search with filters.`,
    );
  const groups = Array.isArray(body['filterGroups']) ? (body['filterGroups'] as unknown[]) : [];
  if (groups.length > MAX_FILTER_GROUPS)
    throw new ValidationError(`At most ${MAX_FILTER_GROUPS} filter groups are allowed`);
  const parsed = groups.map((group) => {
    const filters = isRecord(group) && Array.isArray(group['filters']) ? (group['filters'] as unknown[]) : [];
    if (filters.length > MAX_FILTERS_PER_GROUP)
      throw new ValidationError(`At most ${MAX_FILTERS_PER_GROUP} filters are allowed in a filter group`);
    return filters.map((filter) => filterOf(objectType, filter));
  });
  if (parsed.flat().length > MAX_FILTERS)
    throw new ValidationError(`At most ${MAX_FILTERS} filters are allowed`);
  const sorts = Array.isArray(body['sorts']) ? (body['sorts'] as unknown[]) : [];
  if (sorts.length > 1) throw new ValidationError('Only one sort is allowed');
  const sort = sortOf(objectType, sorts[0]);
  const names = Array.isArray(body['properties']) ? (body['properties'] as string[]) : [];

  const matches: { row: R; key: number | string; tie: string }[] = [];
  for (const row of rows)
    if (parsed.length === 0 || parsed.some((filters) => filters.every((f) => f(row.properties))))
      matches.push({ row, key: sort.value(row.properties, row.id), tie: tieOrder(row.id) });
  const next = after + limit;
  const ordered = firstInOrder(matches, next, (a, b) => {
    const order = a.key < b.key ? -1 : a.key > b.key ? 1 : a.tie < b.tie ? -1 : 1;
    return sort.descending ? -order : order;
  });
  return {
    total: matches.length,
    page: ordered.slice(after, next).map((m) => m.row),
    nextAfter: next < matches.length ? next : null,
    properties: names,
  };
}

/**
 * The first `count` of `items` in `compare`'s order. A page deep into few results sorts them all; a first page of
 * 100,000 (a backfill's every search) keeps only the best `count`, most items rejected by one comparison.
 */
function firstInOrder<T>(items: T[], count: number, compare: (a: T, b: T) => number): T[] {
  if (count * 4 >= items.length) return items.sort(compare);
  const best: T[] = [];
  for (const item of items) {
    if (best.length === count && compare(item, best[count - 1] as T) >= 0) continue;
    let low = 0;
    let high = best.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compare(item, best[middle] as T) < 0) high = middle;
      else low = middle + 1;
    }
    best.splice(low, 0, item);
    if (best.length > count) best.pop();
  }
  return best;
}

function sortOf(
  objectType: HubSpotObjectType,
  sort: unknown,
): { value: (p: Record<string, string | null>, id: string) => number | string; descending: boolean } {
  let name = 'createdate';
  let descending = false;
  if (typeof sort === 'string') {
    descending = sort.startsWith('-');
    name = descending ? sort.slice(1) : sort;
  } else if (isRecord(sort)) {
    name = String(sort['propertyName'] ?? '');
    descending = sort['direction'] === 'DESCENDING';
  }
  const definition = PROPERTIES[objectType][name];
  if (!definition) throw new ValidationError(`Property "${name}" does not exist`);
  return {
    descending,
    value: (p, id) => {
      const raw = name === 'hs_object_id' ? id : p[name];
      if (raw === null || raw === undefined) return '';
      if (definition.type === 'datetime') return timeOfMemo(raw);
      if (definition.type === 'number') return Number(raw);
      return raw.toLowerCase();
    },
  };
}

/** A search filter as a predicate over a record's properties, or the error HubSpot gives for it. */
function filterOf(
  objectType: HubSpotObjectType,
  filter: unknown,
): (p: Record<string, string | null>) => boolean {
  if (!isRecord(filter)) throw new ValidationError('Invalid filter');
  const name = String(filter['propertyName'] ?? '');
  const operator = String(filter['operator'] ?? '');
  const definition = PROPERTIES[objectType][name];
  if (!definition) throw new ValidationError(`Property "${name}" does not exist`);
  if (!OPERATORS.has(operator)) throw new ValidationError(`Unknown operator ${operator}`);
  const comparable = (raw: string): number | string =>
    definition.type === 'datetime'
      ? timeOfMemo(raw)
      : definition.type === 'number'
        ? Number(raw)
        : raw.toLowerCase();
  const value = filter['value'] === undefined ? undefined : comparable(String(filter['value']));
  const high = filter['highValue'] === undefined ? undefined : comparable(String(filter['highValue']));
  const values = Array.isArray(filter['values']) ? filter['values'].map((v) => comparable(String(v))) : [];
  const need = (v: number | string | undefined): number | string => {
    if (v === undefined || (typeof v === 'number' && Number.isNaN(v)))
      throw new ValidationError(`Filter on ${name} with ${operator} needs a valid value`);
    return v;
  };
  return (properties) => {
    const raw = properties[name];
    const present = raw !== null && raw !== undefined && raw !== '';
    const actual = present ? comparable(raw) : undefined;
    switch (operator) {
      case 'HAS_PROPERTY':
        return present;
      case 'NOT_HAS_PROPERTY':
        return !present;
      case 'EQ':
        return actual === need(value);
      case 'NEQ':
        return actual !== need(value);
      case 'LT':
        return actual !== undefined && actual < need(value);
      case 'LTE':
        return actual !== undefined && actual <= need(value);
      case 'GT':
        return actual !== undefined && actual > need(value);
      case 'GTE':
        return actual !== undefined && actual >= need(value);
      case 'BETWEEN':
        return actual !== undefined && actual >= need(value) && actual <= need(high);
      case 'IN':
        return actual !== undefined && values.includes(actual);
      case 'NOT_IN':
        return actual === undefined || !values.includes(actual);
      case 'CONTAINS_TOKEN':
        return typeof actual === 'string' && actual.includes(String(need(value)).replace(/\*/g, ''));
      default:
        return !(typeof actual === 'string' && actual.includes(String(need(value)).replace(/\*/g, '')));
    }
  };
}
