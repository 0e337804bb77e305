import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { Topics, type TrackingEvent } from '@tributary/contracts';
import { IdentityResolver } from '../identity/identity-resolver.service';
import { LeadScorer } from './lead-scorer.service';

/** Every behavioural event may link identities and change a lead's engagement score. */
@Controller()
export class TrackingEventsHandler {
  constructor(
    private readonly identities: IdentityResolver,
    private readonly scorer: LeadScorer,
  ) {}

  @EventPattern(Topics.TrackingEvents)
  async onTrackingEvent(@Payload() event: TrackingEvent): Promise<void> {
    // Resolved first, so an event for a merged id scores its surviving contact.
    const contactId = await this.identities.resolveEvent(event);
    await this.scorer.applyEvent(event, contactId);
  }
}
