import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Topics, type TrackingEvent } from '@tributary/contracts';
import { EventPublisher, originMetadata } from '@tributary/messaging';
import type { TrackCall } from './track-call';

/** Turns accepted tracking calls into `tracking.events`, keyed by the contact so one person's events stay in order. */
@Injectable()
export class TrackingIntake {
  constructor(private readonly publisher: EventPublisher) {}

  /** Resolves only once Kafka acknowledged the event (acks=all): a 200 always means stored. */
  async accept(workspaceId: string, call: TrackCall, receivedAt = Date.now()): Promise<TrackingEvent> {
    const messageId = call.messageId ?? randomUUID();
    const timestamp = call.timestamp ? Date.parse(call.timestamp) : receivedAt;
    const event: TrackingEvent = {
      metadata: originMetadata({ workspaceId, source: 'ingestion', occurredAt: timestamp }),
      callType: 'track',
      messageId,
      userId: call.userId ?? null,
      anonymousId: call.anonymousId ?? null,
      event: call.event,
      propertiesJson: JSON.stringify(call.properties ?? {}),
      contextJson: JSON.stringify(call.context ?? {}),
      timestamp,
      receivedAt,
    };
    const key = call.userId ?? call.anonymousId ?? messageId;
    await this.publisher.publish({ topic: Topics.TrackingEvents, key, event });
    return event;
  }
}
