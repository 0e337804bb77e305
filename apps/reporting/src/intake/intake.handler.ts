import { Controller } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { BatchEventPattern, type KafkaEventContext } from '@tributary/messaging';
import { Topics, type TopicEvents } from '@tributary/contracts';
import { ReportIntake } from './report-intake.service';

type Events<T extends keyof TopicEvents> = TopicEvents[T][];

/**
 * Reporting's one consumer of each topic it reads: every read model fed by the topic gets the batch (a topic has one
 * handler per consumer group). Each fetch is taken a batch at a time, the partitions of one fetch in one call, so a
 * batch costs a few store commands however many events it holds.
 */
@Controller()
export class IntakeHandler {
  constructor(private readonly intake: ReportIntake) {}

  @BatchEventPattern(Topics.TrackingEvents, { acrossPartitions: true })
  onTracking(@Payload() events: Events<'tracking.events'>, @Ctx() ctx: KafkaEventContext) {
    return this.intake.take(Topics.TrackingEvents, events, ctx.positions);
  }

  @BatchEventPattern(Topics.LeadsCaptured, { acrossPartitions: true })
  onLeadsCaptured(@Payload() events: Events<'leads.captured'>, @Ctx() ctx: KafkaEventContext) {
    return this.intake.take(Topics.LeadsCaptured, events, ctx.positions);
  }

  @BatchEventPattern(Topics.LeadsScored, { acrossPartitions: true })
  onLeadsScored(@Payload() events: Events<'leads.scored'>, @Ctx() ctx: KafkaEventContext) {
    return this.intake.take(Topics.LeadsScored, events, ctx.positions);
  }

  @BatchEventPattern(Topics.LifecycleChanged, { acrossPartitions: true })
  onLifecycle(@Payload() events: Events<'lifecycle.changed'>, @Ctx() ctx: KafkaEventContext) {
    return this.intake.take(Topics.LifecycleChanged, events, ctx.positions);
  }

  @BatchEventPattern(Topics.ContactsMerged, { acrossPartitions: true })
  onMerged(@Payload() events: Events<'contacts.merged'>, @Ctx() ctx: KafkaEventContext) {
    return this.intake.take(Topics.ContactsMerged, events, ctx.positions);
  }

  @BatchEventPattern(Topics.LeadsAssigned, { acrossPartitions: true })
  onAssigned(@Payload() events: Events<'leads.assigned'>, @Ctx() ctx: KafkaEventContext) {
    return this.intake.take(Topics.LeadsAssigned, events, ctx.positions);
  }

  @BatchEventPattern(Topics.LeadsSlaBreached, { acrossPartitions: true })
  onSlaBreached(@Payload() events: Events<'leads.sla-breached'>, @Ctx() ctx: KafkaEventContext) {
    return this.intake.take(Topics.LeadsSlaBreached, events, ctx.positions);
  }

  @BatchEventPattern(Topics.LeadsAccepted, { acrossPartitions: true })
  onAccepted(@Payload() events: Events<'leads.accepted'>, @Ctx() ctx: KafkaEventContext) {
    return this.intake.take(Topics.LeadsAccepted, events, ctx.positions);
  }

  @BatchEventPattern(Topics.JourneySteps, { acrossPartitions: true })
  onJourneySteps(@Payload() events: Events<'journey.steps'>, @Ctx() ctx: KafkaEventContext) {
    return this.intake.take(Topics.JourneySteps, events, ctx.positions);
  }

  @BatchEventPattern(Topics.MessagesOutcomes, { acrossPartitions: true })
  onMessageOutcomes(@Payload() events: Events<'messages.outcomes'>, @Ctx() ctx: KafkaEventContext) {
    return this.intake.take(Topics.MessagesOutcomes, events, ctx.positions);
  }

  @BatchEventPattern(Topics.MessagesDeliveries, { acrossPartitions: true })
  onDeliveries(@Payload() events: Events<'messages.deliveries'>, @Ctx() ctx: KafkaEventContext) {
    return this.intake.take(Topics.MessagesDeliveries, events, ctx.positions);
  }

  @BatchEventPattern(Topics.ContentEvents, { acrossPartitions: true })
  onContent(@Payload() events: Events<'content.events'>, @Ctx() ctx: KafkaEventContext) {
    return this.intake.take(Topics.ContentEvents, events, ctx.positions);
  }

  @BatchEventPattern(Topics.ContactsAttributes, { acrossPartitions: true })
  onAttributes(@Payload() events: Events<'contacts.attributes'>, @Ctx() ctx: KafkaEventContext) {
    return this.intake.take(Topics.ContactsAttributes, events, ctx.positions);
  }

  @BatchEventPattern(Topics.SyncOutbound, { acrossPartitions: true })
  onOutboundSync(@Payload() events: Events<'sync.outbound'>, @Ctx() ctx: KafkaEventContext) {
    return this.intake.take(Topics.SyncOutbound, events, ctx.positions);
  }

  @BatchEventPattern(Topics.SyncConnectorHealth, { acrossPartitions: true })
  onConnectorHealth(@Payload() events: Events<'sync.connector.health'>, @Ctx() ctx: KafkaEventContext) {
    return this.intake.take(Topics.SyncConnectorHealth, events, ctx.positions);
  }

  @BatchEventPattern(Topics.SyncRecordsRejected, { acrossPartitions: true })
  onSyncRejected(@Payload() events: Events<'sync.records.rejected'>, @Ctx() ctx: KafkaEventContext) {
    return this.intake.take(Topics.SyncRecordsRejected, events, ctx.positions);
  }

  @BatchEventPattern(Topics.IngestionRejected, { acrossPartitions: true })
  onIngestionRejected(@Payload() events: Events<'ingestion.rejected'>, @Ctx() ctx: KafkaEventContext) {
    return this.intake.take(Topics.IngestionRejected, events, ctx.positions);
  }

  @BatchEventPattern(Topics.DlqLeads, { acrossPartitions: true })
  onLeadsDeadLetters(@Payload() events: Events<'dlq.leads'>, @Ctx() ctx: KafkaEventContext) {
    return this.intake.take(Topics.DlqLeads, events, ctx.positions);
  }

  @BatchEventPattern(Topics.DlqOrchestration, { acrossPartitions: true })
  onOrchestrationDeadLetters(@Payload() events: Events<'dlq.orchestration'>, @Ctx() ctx: KafkaEventContext) {
    return this.intake.take(Topics.DlqOrchestration, events, ctx.positions);
  }

  @BatchEventPattern(Topics.DlqSync, { acrossPartitions: true })
  onSyncDeadLetters(@Payload() events: Events<'dlq.sync'>, @Ctx() ctx: KafkaEventContext) {
    return this.intake.take(Topics.DlqSync, events, ctx.positions);
  }
}
