import { Inject, Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { IANAZone } from 'luxon';
import { Schema, type Connection, type Model } from 'mongoose';
import { z } from 'zod';
import { fieldProblemsOf, type FieldProblem } from '@tributary/runtime';

/**
 * How a workspace's reports are cut: its time zone (hour, day and week buckets are its local ones), how late an event
 * may arrive and still update its past bucket, and what attribution counts as a conversion and how it shares credit.
 */
export interface ReportSettings {
  timeZone: string;
  /** Events arriving more than this many days after they happened are counted as late, not in their bucket. */
  lateDays: number;
  attribution: {
    lookbackDays: number;
    halfLifeDays: number;
    /** Position-based shares in percent of the first touch, the touches between, and the last touch (sum 100). */
    positionShares: { first: number; middle: number; last: number };
    /** Lifecycle stages whose reaching is a conversion. */
    conversionStages: string[];
    /** Track events that are conversions (goals), their revenue read from `properties.revenue`. */
    goalEvents: string[];
  };
}

export const DEFAULT_REPORT_SETTINGS: ReportSettings = {
  timeZone: 'UTC',
  lateDays: 7,
  attribution: {
    lookbackDays: 30,
    halfLifeDays: 7,
    positionShares: { first: 40, middle: 20, last: 40 },
    conversionStages: ['customer'],
    goalEvents: ['Order Completed'],
  },
};

const settingsRequest = z
  .object({
    timeZone: z
      .string()
      .refine((zone) => IANAZone.isValidZone(zone), 'an IANA time zone name, e.g. Europe/Paris'),
    lateDays: z.number().int().min(0).max(90),
    attribution: z
      .object({
        lookbackDays: z.number().int().min(1).max(365),
        halfLifeDays: z.number().positive().max(365),
        positionShares: z
          .object({ first: z.number().min(0), middle: z.number().min(0), last: z.number().min(0) })
          .strict()
          .refine(
            ({ first, middle, last }) => Math.abs(first + middle + last - 100) < 1e-9,
            'first + middle + last must be 100 (percent)',
          ),
        conversionStages: z.array(z.string().min(1)).min(1).max(10),
        goalEvents: z.array(z.string().min(1)).max(20),
      })
      .strict()
      .partial(),
  })
  .strict()
  .partial();

interface ReportSettingsDoc {
  _id: string;
  settings: ReportSettings;
  updatedAt: Date;
  updatedBy: string;
}

const reportSettingsSchema = new Schema<ReportSettingsDoc>(
  {
    _id: { type: String, required: true },
    settings: { type: Schema.Types.Mixed, required: true },
    updatedAt: { type: Date, required: true },
    updatedBy: { type: String, required: true },
  },
  { versionKey: false, collection: 'report_settings' },
);

export const REPORT_SETTINGS_MODEL = Symbol('REPORT_SETTINGS_MODEL');

export function reportSettingsModel(connection: Connection): Model<ReportSettingsDoc> {
  return (
    connection.models['ReportSettings'] ??
    connection.model<ReportSettingsDoc>('ReportSettings', reportSettingsSchema)
  );
}

/** How long a consumer trusts the settings it read: a change reaches the read models within this. */
const SETTINGS_TTL_MS = 10_000;

/**
 * Each workspace's report settings, cached for the consumers (a batch reads those of its workspaces in one query).
 * A new time zone buckets the events that come after it; `npm run recompute:reports` re-buckets the past.
 */
@Injectable()
export class ReportSettingsStore {
  private readonly cache = new LRUCache<string, ReportSettings>({ max: 10_000, ttl: SETTINGS_TTL_MS });

  constructor(@Inject(REPORT_SETTINGS_MODEL) private readonly model: Model<ReportSettingsDoc>) {}

  async forWorkspaces(workspaceIds: Iterable<string>): Promise<Map<string, ReportSettings>> {
    const found = new Map<string, ReportSettings>();
    const missing: string[] = [];
    for (const id of new Set(workspaceIds)) {
      const cached = this.cache.get(id);
      if (cached) found.set(id, cached);
      else missing.push(id);
    }
    if (missing.length === 0) return found;
    const docs = await this.model.find({ _id: { $in: missing } }, { settings: 1 }).lean();
    const stored = new Map(docs.map((doc) => [doc._id, doc.settings]));
    for (const id of missing) {
      const settings = withDefaults(stored.get(id));
      this.cache.set(id, settings);
      found.set(id, settings);
    }
    return found;
  }

  async get(workspaceId: string): Promise<ReportSettings> {
    return (await this.forWorkspaces([workspaceId])).get(workspaceId) ?? DEFAULT_REPORT_SETTINGS;
  }

  /** Merges `body` into the workspace's settings; every invalid field is named at once. */
  async update(
    workspaceId: string,
    body: unknown,
    updatedBy: string,
  ): Promise<{ ok: true; settings: ReportSettings } | { ok: false; errors: FieldProblem[] }> {
    const parsed = settingsRequest.safeParse(body);
    if (!parsed.success) return { ok: false, errors: fieldProblemsOf(parsed.error, 'report settings') };
    const current = (await this.model.findById(workspaceId, { settings: 1 }).lean())?.settings;
    const base = withDefaults(current);
    const settings: ReportSettings = {
      ...base,
      ...parsed.data,
      attribution: { ...base.attribution, ...parsed.data.attribution },
    };
    await this.model.updateOne(
      { _id: workspaceId },
      { $set: { settings, updatedAt: new Date(), updatedBy } },
      { upsert: true },
    );
    this.cache.set(workspaceId, settings);
    return { ok: true, settings };
  }
}

function withDefaults(stored: Partial<ReportSettings> | undefined): ReportSettings {
  return {
    ...DEFAULT_REPORT_SETTINGS,
    ...stored,
    attribution: { ...DEFAULT_REPORT_SETTINGS.attribution, ...stored?.attribution },
  };
}
