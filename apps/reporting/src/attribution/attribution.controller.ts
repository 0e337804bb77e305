import { Controller, Get, Inject, Query, UseGuards } from '@nestjs/common';
import type { Connection } from 'mongoose';
import { z } from 'zod';
import { CurrentWorkspace, RequireScopes, WorkspaceKeyGuard } from '@tributary/access';
import { STORE_CONNECTION } from '@tributary/store';
import { ReportingScopes } from '../scopes';
import { ReportSettingsStore } from '../settings/report-settings';
import { parseQuery, reportQuery, resolveRange } from '../api/report-query';
import { FUNNEL_CONTACTS_COLLECTION, type FunnelContactDoc } from '../funnel/funnel-contacts';
import { peopleOf } from '../funnel/funnel';
import {
  ATTRIBUTION_MODELS,
  compareModels,
  type ChannelComparison,
  type ConversionPath,
  type Touchpoint,
} from './attribution';
import {
  GOAL_CONVERSIONS_COLLECTION,
  TOUCHPOINTS_COLLECTION,
  type GoalConversionDoc,
  type TouchpointDoc,
} from './attribution-model';

const attributionQuery = reportQuery.extend({
  /** Only conversions of this kind, e.g. `stage:customer` or `goal:Order Completed`. */
  conversion: z.string().min(1).max(200).optional(),
  lookbackDays: z.coerce.number().int().min(1).max(365).optional(),
  halfLifeDays: z.coerce.number().positive().max(365).optional(),
});

export interface AttributionReport {
  range: { from: string; to: string; timeZone: string };
  settings: {
    lookbackDays: number;
    halfLifeDays: number;
    positionShares: { first: number; middle: number; last: number };
  };
  models: readonly string[];
  /** Conversions in the range, per kind; every model's credits over all channels sum to their total. */
  conversions: Record<string, number>;
  revenue: number;
  channels: ChannelComparison[];
}

/**
 * `GET /v1/reports/attribution`: every model's credit per channel side by side, for the conversions of a range
 * (lifecycle stages the workspace counts, reached by a person for the first time; goal events). A merged contact's
 * touches are its person's. The caller's workspace only; `reports:read`.
 */
@Controller('v1/reports')
@UseGuards(WorkspaceKeyGuard)
export class AttributionController {
  constructor(
    @Inject(STORE_CONNECTION) private readonly connection: Connection,
    private readonly settings: ReportSettingsStore,
  ) {}

  @Get('attribution')
  @RequireScopes(ReportingScopes.reportsRead)
  async attribution(
    @CurrentWorkspace() workspaceId: string,
    @Query() raw: unknown,
  ): Promise<AttributionReport> {
    const query = parseQuery(attributionQuery, raw);
    const { timeZone, attribution } = await this.settings.get(workspaceId);
    const range = resolveRange(query, timeZone);
    const options = {
      lookbackDays: query.lookbackDays ?? attribution.lookbackDays,
      halfLifeDays: query.halfLifeDays ?? attribution.halfLifeDays,
      positionShares: attribution.positionShares,
    };

    const contacts = await this.connection
      .collection<FunnelContactDoc>(FUNNEL_CONTACTS_COLLECTION)
      .find({ workspaceId }, { projection: { contactId: 1, root: 1, reached: 1 } })
      .toArray();
    const rootOf = new Map(contacts.map((doc) => [doc.contactId, doc.root]));
    const conversions: { root: string; at: number; kind: string; revenue?: number }[] = [];
    for (const person of peopleOf(contacts))
      for (const stage of attribution.conversionStages) {
        const at = person.reached[stage];
        if (at !== undefined && at >= range.from && at < range.to)
          conversions.push({ root: person.contactId, at, kind: `stage:${stage}` });
      }
    const goals = await this.connection
      .collection<GoalConversionDoc>(GOAL_CONVERSIONS_COLLECTION)
      .find({ workspaceId, at: { $gte: new Date(range.from), $lt: new Date(range.to) } })
      .toArray();
    for (const goal of goals)
      conversions.push({
        root: rootOf.get(goal.contactId) ?? goal.contactId,
        at: goal.at.getTime(),
        kind: `goal:${goal.goal}`,
        ...(goal.revenue === null ? {} : { revenue: goal.revenue }),
      });
    const chosen = conversions.filter((c) => query.conversion === undefined || c.kind === query.conversion);

    const touchesOf = await this.touchesOf(workspaceId, chosen, contacts, options.lookbackDays);
    const paths: ConversionPath[] = chosen.map(({ root, at, kind, revenue }) => ({
      touches: touchesOf.get(root) ?? [],
      conversion: { at, kind, ...(revenue === undefined ? {} : { revenue }) },
    }));
    const byKind: Record<string, number> = {};
    for (const { kind } of chosen) byKind[kind] = (byKind[kind] ?? 0) + 1;
    return {
      range: { from: new Date(range.from).toISOString(), to: new Date(range.to).toISOString(), timeZone },
      settings: options,
      models: ATTRIBUTION_MODELS,
      conversions: byKind,
      revenue: chosen.reduce((sum, c) => sum + (c.revenue ?? 0), 0),
      channels: compareModels(paths, options),
    };
  }

  /** The touches of each converting person (all its merged contacts), from the look-back before its first conversion. */
  private async touchesOf(
    workspaceId: string,
    conversions: readonly { root: string; at: number }[],
    contacts: readonly Pick<FunnelContactDoc, 'contactId' | 'root'>[],
    lookbackDays: number,
  ): Promise<Map<string, Touchpoint[]>> {
    if (conversions.length === 0) return new Map();
    const roots = new Set(conversions.map((c) => c.root));
    const members = new Map<string, string>(); // contactId → root
    for (const root of roots) members.set(root, root);
    for (const doc of contacts) if (roots.has(doc.root)) members.set(doc.contactId, doc.root);
    const earliest = Math.min(...conversions.map((c) => c.at)) - lookbackDays * 86_400_000;
    const latest = Math.max(...conversions.map((c) => c.at));
    const docs = await this.connection
      .collection<TouchpointDoc>(TOUCHPOINTS_COLLECTION)
      .find({
        workspaceId,
        contactId: { $in: [...members.keys()] },
        at: { $gte: new Date(earliest), $lte: new Date(latest) },
      })
      .toArray();
    const touches = new Map<string, Touchpoint[]>();
    for (const doc of docs) {
      const root = members.get(doc.contactId);
      if (root === undefined) continue;
      const list = touches.get(root) ?? [];
      list.push({
        at: doc.at.getTime(),
        channel: doc.channel,
        source: doc.source,
        medium: doc.medium,
        campaign: doc.campaign,
        kind: 'visit',
      });
      touches.set(root, list);
    }
    return touches;
  }
}
