import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Topics, type LeadAssigned, type TopicEvents } from '@tributary/contracts';
import { EventPublisher, type OutgoingEvent } from '@tributary/messaging';
import { type Logger, SERVICE_LOGGER } from '@tributary/observability';
import { AssignmentStore } from './assignment.store';
import { assignedEventOf, landedAsDecided } from './batch-decisions';
import type { AssignmentDoc, OutboxEntry, RoutingAnnouncementDoc } from './routing.model';
import { ROUTING_OPTIONS, SWEEP_BATCH, leaseMsOf, type RoutingOptions } from './routing.types';

function outgoing(contactId: string, entry: OutboxEntry): OutgoingEvent {
  // Narrowed per topic so the publisher's topic → event typing holds.
  switch (entry.topic) {
    case Topics.LeadsAssigned: {
      const event: TopicEvents[typeof Topics.LeadsAssigned] = entry.event;
      return { topic: Topics.LeadsAssigned, key: contactId, event };
    }
    case Topics.LeadsSlaBreached: {
      const event: TopicEvents[typeof Topics.LeadsSlaBreached] = entry.event;
      return { topic: Topics.LeadsSlaBreached, key: contactId, event };
    }
    case Topics.LeadsAccepted: {
      const event: TopicEvents[typeof Topics.LeadsAccepted] = entry.event;
      return { topic: Topics.LeadsAccepted, key: contactId, event };
    }
  }
}

/**
 * Publishes what routing decided (`leads.assigned`, `leads.sla-breached`, `leads.accepted`) after the decision is
 * stored, under the event ids derived from its cause, so a crash in between is repaired by publishing the same events
 * again. One lead's events wait in its assignment's outbox; a batch's wait in one announcement document.
 */
@Injectable()
export class AnnouncementOutbox implements OnModuleDestroy {
  /** Announcements published and not yet deleted, deleted together off the batches' path (see `announce`). */
  private spent: string[] = [];
  private deleting: Promise<void> | undefined;
  private readonly leaseMs: number;

  constructor(
    private readonly store: AssignmentStore,
    private readonly publisher: EventPublisher,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
    @Inject(ROUTING_OPTIONS) options: RoutingOptions,
  ) {
    this.leaseMs = leaseMsOf(options);
  }

  /** Publishes a lead's outbox and clears it (kept for assignment `n` only: a later one has its own). */
  async flush(doc: AssignmentDoc): Promise<void> {
    if (doc.outbox.length === 0) return;
    await this.publisher.publishAll(doc.outbox.map((entry) => outgoing(doc._id, entry)));
    await this.store.clearOutbox(doc);
  }

  /** Stores a batch's announcement before its assignments, so that no decision lands without its event. */
  async record(announcement: RoutingAnnouncementDoc): Promise<void> {
    if (announcement.leads.length > 0) await this.store.insertAnnouncement(announcement);
  }

  /**
   * Publishes the events of a batch's announcement that landed (one produce). The announcement is deleted after, but
   * the batch does not wait for that: the deletes of all batches published meanwhile go in one command. One a crash
   * leaves is the sweep's (`republishLeft`).
   */
  async announce(
    announcement: RoutingAnnouncementDoc,
    landed: readonly { contactId: string; event: LeadAssigned }[],
  ): Promise<void> {
    if (announcement.leads.length === 0) return;
    await this.publisher.publishAll(
      landed.map(({ contactId, event }) => ({ topic: Topics.LeadsAssigned, key: contactId, event })),
    );
    this.spent.push(announcement._id);
    this.deleting ??= this.deleteSpent();
  }

  /**
   * Announcements a crash left behind (older than a lease): the events of the leads whose assignment landed as
   * decided are rebuilt from their assignments and published again under the same ids; the others went another way
   * (lost to another writer, or routed lead by lead with an outbox of their own) and are dropped. Returns how many
   * events were published.
   */
  async republishLeft(now: Date, stopped: () => boolean): Promise<number> {
    const left = await this.store.announcementsUpTo(new Date(now.getTime() - this.leaseMs), SWEEP_BATCH);
    let published = 0;
    for (const announcement of left) {
      if (stopped()) break;
      const stored = await this.store.assignmentsByIds(announcement.leads.map(({ contactId }) => contactId));
      const landed = announcement.leads.flatMap((lead) => {
        const doc = stored.get(lead.contactId);
        return landedAsDecided(doc, lead, announcement.createdAt)
          ? [{ contactId: lead.contactId, event: assignedEventOf(doc) }]
          : [];
      });
      await this.announce(announcement, landed);
      published += landed.length;
    }
    return published;
  }

  /** Resolves once the deletes of published announcements in flight are done. */
  async settled(): Promise<void> {
    await this.deleting;
  }

  async onModuleDestroy(): Promise<void> {
    await this.settled();
  }

  /** Deletes published announcements, one command per round; a failed round's are tried again with the next. */
  private async deleteSpent(): Promise<void> {
    try {
      while (this.spent.length > 0) {
        const ids = this.spent;
        this.spent = [];
        try {
          await this.store.deleteAnnouncements(ids);
        } catch (error) {
          this.spent.unshift(...ids);
          this.logger.warn(
            { err: (error as Error).message, count: ids.length },
            'announcements not deleted yet',
          );
          return;
        }
      }
    } finally {
      this.deleting = undefined;
    }
  }
}
