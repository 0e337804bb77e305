import { bucketStart, type BucketGrain } from '../attribution/time-buckets';
import type { FunnelContactDoc } from './funnel-contacts';

/** The lifecycle stages in funnel order (disqualified is a way out, not a stage of the funnel). */
export const FUNNEL_STAGES = ['subscriber', 'lead', 'mql', 'sql', 'opportunity', 'customer'] as const;
export type FunnelStage = (typeof FUNNEL_STAGES)[number];

/** One person of the funnel: a contact and every contact merged into it, counted once. */
export interface FunnelPerson {
  contactId: string;
  /** The first time each stage was reached by any of its contacts. */
  reached: Partial<Record<string, number>>;
  stage: string | null;
  source: string;
  medium: string;
  campaign: string;
  ownerId: string;
  teamId: string;
}

export interface FunnelFilter {
  source?: string | undefined;
  medium?: string | undefined;
  campaign?: string | undefined;
  ownerId?: string | undefined;
  teamId?: string | undefined;
}

const NONE = '(none)';

/**
 * Folds contacts into people by their root: the earliest reach of each stage, the oldest first touch, and the newest
 * stage and owner of all the contacts merged into one.
 */
export function peopleOf(docs: Iterable<FunnelContactDoc>): FunnelPerson[] {
  const people = new Map<string, FunnelPerson & { stageAt: number; touchAt: number; ownerAt: number }>();
  for (const doc of docs) {
    let person = people.get(doc.root);
    if (!person) {
      person = {
        contactId: doc.root,
        reached: {},
        stage: null,
        source: '(direct)',
        medium: NONE,
        campaign: NONE,
        ownerId: NONE,
        teamId: NONE,
        stageAt: -Infinity,
        touchAt: Infinity,
        ownerAt: -Infinity,
      };
      people.set(doc.root, person);
    }
    for (const [stage, at] of Object.entries(doc.reached ?? {})) {
      const time = new Date(at).getTime();
      person.reached[stage] = Math.min(person.reached[stage] ?? time, time);
    }
    if (doc.stage && doc.stageAt && doc.stageAt.getTime() > person.stageAt) {
      person.stage = doc.stage;
      person.stageAt = doc.stageAt.getTime();
    }
    if (doc.firstTouch && doc.firstTouch.at.getTime() < person.touchAt) {
      person.touchAt = doc.firstTouch.at.getTime();
      person.source = doc.firstTouch.source;
      person.medium = doc.firstTouch.medium;
      person.campaign = doc.firstTouch.campaign;
    }
    if (doc.owner && doc.owner.at.getTime() > person.ownerAt) {
      person.ownerAt = doc.owner.at.getTime();
      person.ownerId = doc.owner.ownerId;
      person.teamId = doc.owner.teamId;
    }
  }
  return [...people.values()]
    .map(({ stageAt: _s, touchAt: _t, ownerAt: _o, ...person }) => person)
    .sort((a, b) => a.contactId.localeCompare(b.contactId));
}

export function matches(person: FunnelPerson, filter: FunnelFilter): boolean {
  return (
    (filter.source === undefined || person.source === filter.source) &&
    (filter.medium === undefined || person.medium === filter.medium) &&
    (filter.campaign === undefined || person.campaign === filter.campaign) &&
    (filter.ownerId === undefined || person.ownerId === filter.ownerId) &&
    (filter.teamId === undefined || person.teamId === filter.teamId)
  );
}

export interface FunnelStageRow {
  stage: FunnelStage;
  /** People who first reached the stage within the range. */
  entered: number;
  /** Of those, how many went on to a later stage (at any time after). */
  advanced: number;
  /** advanced / entered; null when none entered. */
  conversionRate: number | null;
  /** Time from reaching this stage to reaching the next one they reached, over those who advanced. */
  daysToAdvance: { median: number | null; mean: number | null };
  /** People in this stage now, whenever they entered it. */
  current: number;
}

const DAY_MS = 86_400_000;

/** The funnel over a range: per stage, who entered, who advanced and how fast (velocity). */
export function funnelOf(
  people: readonly FunnelPerson[],
  range: { from: number; to: number },
  filter: FunnelFilter = {},
): FunnelStageRow[] {
  const chosen = people.filter((person) => matches(person, filter));
  return FUNNEL_STAGES.map((stage, index) => {
    let entered = 0;
    const advanceDays: number[] = [];
    let current = 0;
    for (const person of chosen) {
      if (person.stage === stage) current++;
      const at = person.reached[stage];
      if (at === undefined || at < range.from || at >= range.to) continue;
      entered++;
      const next = FUNNEL_STAGES.slice(index + 1)
        .map((later) => person.reached[later])
        .filter((time): time is number => time !== undefined && time >= at);
      if (next.length > 0) advanceDays.push((Math.min(...next) - at) / DAY_MS);
    }
    return {
      stage,
      entered,
      advanced: advanceDays.length,
      conversionRate: entered === 0 ? null : round(advanceDays.length / entered),
      daysToAdvance: { median: median(advanceDays), mean: mean(advanceDays) },
      current,
    };
  });
}

export interface FunnelTrendRow {
  bucket: string;
  entered: Partial<Record<FunnelStage, number>>;
}

/** People reaching each stage per bucket of the range: its buckets sum to the funnel's `entered`. */
export function funnelTrend(
  people: readonly FunnelPerson[],
  range: { from: number; to: number; grain: BucketGrain },
  zone: string,
  filter: FunnelFilter = {},
): FunnelTrendRow[] {
  const rows = new Map<string, { at: number; row: FunnelTrendRow }>();
  for (const person of people) {
    if (!matches(person, filter)) continue;
    for (const stage of FUNNEL_STAGES) {
      const at = person.reached[stage];
      if (at === undefined || at < range.from || at >= range.to) continue;
      const bucket = bucketStart(at, range.grain, zone);
      let entry = rows.get(bucket);
      if (!entry) {
        entry = { at: Date.parse(bucket), row: { bucket, entered: {} } };
        rows.set(bucket, entry);
      }
      entry.row.entered[stage] = (entry.row.entered[stage] ?? 0) + 1;
    }
  }
  return [...rows.values()].sort((a, b) => a.at - b.at).map(({ row }) => row);
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const value =
    sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return round(value);
}

function mean(values: number[]): number | null {
  if (values.length === 0) return null;
  return round(values.reduce((sum, value) => sum + value, 0) / values.length);
}
