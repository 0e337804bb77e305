/**
 * The orchestration int specs' shared harness: `replicas` orchestration services in this process sharing one store
 * and consumer group on the real stack (Kafka, registry, Mongo-wire store), a test publisher for the topics a spec
 * feeds, the engine's models, and journeys written and published through the catalog as the API does. Vendor fakes
 * and their settings stay with each spec (`env`), since each spec drives different ones.
 */
import type { Kafka } from 'kafkajs';
import type { Model } from 'mongoose';
import type { TopicName } from '@tributary/contracts';
import type { AvroSchemaRegistry, EventPublisher } from '@tributary/messaging';
import { stopTelemetry } from '@tributary/observability';
import { startService, type RunningService } from '@tributary/runtime';
import { connectTestPublisher, testServiceEnv, waitFor } from '@tributary/testing';
import { OrchestrationModule } from '../../app.module';
import { loadOrchestrationConfig, type OrchestrationConfig } from '../../config';
import { JourneyCatalog } from '../../journeys/journey-catalog';
import type { JourneyDefinition } from '../../journeys/journey-definition';
import { journeyOf } from '../../journeys/testing/journey-documents';
import {
  CONTACT_PROFILE_MODEL,
  ENROLLMENT_MODEL,
  MESSAGE_MODEL,
  type ContactProfileDoc,
  type EnrollmentDoc,
  type MessageDoc,
} from '../engine.models';

export interface HarnessOptions {
  /** The spec's run id (`uniqueId`): its database, consumer group and topics' prefix. */
  run: string;
  /** Names the spec's publisher client. */
  name: string;
  /** Services sharing the store and group: two when a spec shows that each wake-up runs on one replica only. */
  replicas?: number;
  /** Settings over the harness's (a fast timer poll, no journey cache). */
  env?: Record<string, string>;
  /** Topics the spec publishes to. */
  topics: readonly TopicName[];
}

export class OrchestrationHarness {
  private constructor(
    readonly config: OrchestrationConfig,
    readonly services: readonly RunningService[],
    readonly kafka: Kafka,
    readonly registry: AvroSchemaRegistry,
    readonly publisher: EventPublisher,
  ) {}

  static async start(options: HarnessOptions): Promise<OrchestrationHarness> {
    const config = loadOrchestrationConfig(
      testServiceEnv('orchestration', options.run, {
        JOURNEY_TIMER_POLL_MS: '100',
        JOURNEY_CACHE_TTL_MS: '0',
        ...options.env,
      }),
    );
    const services: RunningService[] = [];
    // One after the other: replicas joining the group at once rebalance each other's first join.
    for (let i = 0; i < (options.replicas ?? 1); i += 1)
      services.push(await startService(OrchestrationModule.forRoot(config), config));
    const { kafka, registry, publisher } = await connectTestPublisher(
      `${options.name}-${options.run}`,
      config,
      options.topics,
    );
    return new OrchestrationHarness(config, services, kafka, registry, publisher);
  }

  /** The first replica's provider of `token`. */
  get<T>(token: string | symbol | (abstract new (...args: never[]) => T)): T {
    const [first] = this.services;
    if (!first) throw new Error('no service');
    return first.app.get<T>(token as never);
  }

  get catalog(): JourneyCatalog {
    return this.get(JourneyCatalog);
  }

  get enrollments(): Model<EnrollmentDoc> {
    return this.get<Model<EnrollmentDoc>>(ENROLLMENT_MODEL);
  }

  get messages(): Model<MessageDoc> {
    return this.get<Model<MessageDoc>>(MESSAGE_MODEL);
  }

  get profiles(): Model<ContactProfileDoc> {
    return this.get<Model<ContactProfileDoc>>(CONTACT_PROFILE_MODEL);
  }

  /** Stores `document` as the journey's next version and publishes it; refused definitions throw. */
  async publishJourney(
    workspaceId: string,
    journeyId: string,
    document: unknown,
  ): Promise<JourneyDefinition> {
    const definition = journeyOf(document);
    await this.catalog.append(workspaceId, journeyId, definition, 'test');
    await this.catalog.publish(workspaceId, journeyId);
    return definition;
  }

  /** The enrollment once it waits at `stepId` (a wait step it reached). */
  waitingAt(enrollmentId: string, stepId: string, timeoutMs = 30_000): Promise<EnrollmentDoc> {
    return waitFor(
      `enrollment ${enrollmentId} waiting at ${stepId}`,
      async () => {
        const doc = await this.enrollments.findById(enrollmentId).lean();
        return doc?.waitingAt === stepId ? doc : undefined;
      },
      { timeoutMs },
    );
  }

  /** The enrollment once it left the journey (completed, exited or converted). */
  finished(enrollmentId: string, timeoutMs = 30_000): Promise<EnrollmentDoc> {
    return waitFor(
      `enrollment ${enrollmentId} finished`,
      async () => {
        const doc = await this.enrollments.findById(enrollmentId).lean();
        return doc && doc.state !== 'active' ? doc : undefined;
      },
      { timeoutMs },
    );
  }

  async close(): Promise<void> {
    await this.publisher.disconnect();
    await Promise.all(this.services.map((s) => s.close()));
    await stopTelemetry();
  }
}
