import { Inject, Injectable } from '@nestjs/common';
import type { Connection } from 'mongoose';
import { STORE_CONNECTION } from '@tributary/store';
import { FunnelPeople } from '../funnel/funnel-people';
import type { AttributionOptions, ConversionPath, Touchpoint } from './attribution';
import {
  GOAL_CONVERSIONS_COLLECTION,
  TOUCHPOINTS_COLLECTION,
  type GoalConversionDoc,
  type TouchpointDoc,
} from './attribution-model';

/** A conversion of a person, with the touches that may share its credit. */
export interface AttributedConversion extends ConversionPath {
  /** The person (root contact) who converted. */
  contactId: string;
}

/**
 * The conversions of a range and their paths: stages the workspace counts, first reached by a person (merged contacts
 * are one person), and goal events; each with the touches of every contact of its person in the look-back.
 */
@Injectable()
export class AttributionReports {
  constructor(
    @Inject(STORE_CONNECTION) private readonly connection: Connection,
    private readonly people: FunnelPeople,
  ) {}

  async conversions(
    workspaceId: string,
    range: { from: number; to: number },
    conversionStages: readonly string[],
    options: Required<Pick<AttributionOptions, 'lookbackDays'>>,
  ): Promise<AttributedConversion[]> {
    // Streamed: only the converting people and the merged contacts are held, never a workspace's contacts whole.
    const rootOf = new Map<string, string>();
    const found: { root: string; at: number; kind: string; revenue?: number }[] = [];
    for await (const person of this.people.stream(workspaceId, rootOf))
      for (const stage of conversionStages) {
        const at = person.reached[stage];
        if (at !== undefined && at >= range.from && at < range.to)
          found.push({ root: person.contactId, at, kind: `stage:${stage}` });
      }
    const goals = await this.connection
      .collection<GoalConversionDoc>(GOAL_CONVERSIONS_COLLECTION)
      .find({ workspaceId, at: { $gte: new Date(range.from), $lt: new Date(range.to) } })
      .toArray();
    for (const goal of goals)
      found.push({
        root: rootOf.get(goal.contactId) ?? goal.contactId,
        at: goal.at.getTime(),
        kind: `goal:${goal.goal}`,
        ...(goal.revenue === null ? {} : { revenue: goal.revenue }),
      });
    const touches = await this.touchesOf(workspaceId, found, rootOf, options.lookbackDays);
    return found.map(({ root, at, kind, revenue }) => ({
      contactId: root,
      touches: touches.get(root) ?? [],
      conversion: { at, kind, ...(revenue === undefined ? {} : { revenue }) },
    }));
  }

  /** The touches of each converting person (all its contacts), from the look-back before its first conversion. */
  private async touchesOf(
    workspaceId: string,
    conversions: readonly { root: string; at: number }[],
    rootOf: ReadonlyMap<string, string>,
    lookbackDays: number,
  ): Promise<Map<string, Touchpoint[]>> {
    if (conversions.length === 0) return new Map();
    const roots = new Set(conversions.map((c) => c.root));
    const members = new Map<string, string>(); // contactId → root
    for (const root of roots) members.set(root, root);
    for (const [contactId, root] of rootOf) if (roots.has(root)) members.set(contactId, root);
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
