import { Inject, Injectable } from '@nestjs/common';
import type { Connection } from 'mongoose';
import { Topics, type TopicName, type TrackingEvent } from '@tributary/contracts';
import { STORE_CONNECTION, insertClaims, type BatchCollection } from '@tributary/store';
import type { AnyIntakeBatch, ReportContributor } from '../intake/report-contributor';
import { DEFAULT_REPORT_SETTINGS } from '../settings/report-settings';
import { trackedContactId } from '../funnel/funnel-contacts';
import { touchOf, type Touch } from './touchpoints';

/** A marketing touch of a contact (before merges): a visit with a campaign or a referrer. */
export interface TouchpointDoc extends Touch {
  _id: string;
  workspaceId: string;
  contactId: string;
  at: Date;
}

/** A goal reached: a track event the workspace counts as a conversion, with its revenue. */
export interface GoalConversionDoc {
  _id: string;
  workspaceId: string;
  contactId: string;
  goal: string;
  at: Date;
  revenue: number | null;
}

export const TOUCHPOINTS_COLLECTION = 'report_touchpoints';
export const GOAL_CONVERSIONS_COLLECTION = 'report_goal_conversions';

/**
 * Keeps what attribution needs, as facts keyed by event id (an insert per batch; a copy is refused by its id): every
 * touch, and every goal event. Credit is computed when asked, over the conversions of the range (stages reached come
 * from the funnel's contacts), so arrival order, merges and model settings all apply to the whole history alike.
 */
@Injectable()
export class AttributionContributor implements ReportContributor {
  readonly topics: readonly TopicName[] = [Topics.TrackingEvents];

  constructor(@Inject(STORE_CONNECTION) private readonly connection: Connection) {}

  async collect(batch: AnyIntakeBatch): Promise<void> {
    if (batch.topic !== Topics.TrackingEvents) return;
    const touches: TouchpointDoc[] = [];
    const goals: GoalConversionDoc[] = [];
    for (const event of batch.events) {
      const { workspaceId } = event.metadata;
      const contactId = trackedContactId(workspaceId, event.userId, event.anonymousId);
      if (!contactId) continue;
      const _id = `${workspaceId}|${event.metadata.eventId}`;
      const at = new Date(event.timestamp);
      const touch = event.callType === 'page' || event.callType === 'track' ? touchOf(event) : null;
      if (touch) touches.push({ _id, workspaceId, contactId, at, ...touch });
      const goalEvents = (batch.settings.get(workspaceId) ?? DEFAULT_REPORT_SETTINGS).attribution.goalEvents;
      if (event.callType === 'track' && event.event !== null && goalEvents.includes(event.event))
        goals.push({ _id, workspaceId, contactId, goal: event.event, at, revenue: revenueOf(event) });
    }
    // A refused id is a copy already kept: nothing to do (insertClaims throws any other refusal).
    await Promise.all([
      insertClaims(this.collection<TouchpointDoc>(TOUCHPOINTS_COLLECTION), touches),
      insertClaims(this.collection<GoalConversionDoc>(GOAL_CONVERSIONS_COLLECTION), goals),
    ]);
  }

  private collection<T>(name: string): BatchCollection<T> {
    return this.connection.collection(name) as unknown as BatchCollection<T>;
  }
}

/** `properties.revenue` (Segment's ecommerce spec), else `properties.total`; null when neither is a number. */
function revenueOf(event: Pick<TrackingEvent, 'propertiesJson'>): number | null {
  try {
    const properties = JSON.parse(event.propertiesJson) as Record<string, unknown>;
    for (const name of ['revenue', 'total']) {
      const value = properties[name];
      const number = typeof value === 'string' ? Number(value) : value;
      if (typeof number === 'number' && Number.isFinite(number)) return number;
    }
  } catch {
    return null;
  }
  return null;
}
