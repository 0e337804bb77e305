/**
 * Orchestration on the real stack, the service in this process: a burst of scores is enrolled a fetch at a time (a
 * few store commands for hundreds of scores), each enrollment at its contact's newest score, every score's step
 * announced; a score already applied (by either path) is not applied again when redelivered.
 */
import type { Kafka } from 'kafkajs';
import type { Connection, Model } from 'mongoose';
import { Topics, type JourneyStepRecorded, type LeadScored } from '@tributary/contracts';
import type { AvroSchemaRegistry, EventPublisher } from '@tributary/messaging';
import { startService, type RunningService } from '@tributary/runtime';
import { stopTelemetry } from '@tributary/observability';
import { STORE_CONNECTION } from '@tributary/store';
import {
  connectTestPublisher,
  leadScoredFixture,
  publishLeadsScored,
  readCausedEvents,
  storeCommandsOn,
  testServiceEnv,
  uniqueId,
  waitFor,
} from '@tributary/testing';
import { OrchestrationModule } from '../app.module';
import { loadOrchestrationConfig } from '../config';
import { ENROLLMENT_MODEL, type EnrollmentDoc } from './enrollment.model';

const run = uniqueId('orch');
const workspace = `ws_orch_${run}`;
let service: RunningService;
let kafka: Kafka;
let registry: AvroSchemaRegistry;
let publisher: EventPublisher;
let enrollments: Model<EnrollmentDoc>;
/** The store commands this service sent, as JSON, to count those about the test's scores. */
let commands: string[] = [];

beforeAll(async () => {
  // Any bound turns on the driver's command monitoring, which the test listens to; the bound itself logs nothing here.
  const config = loadOrchestrationConfig(
    testServiceEnv('orchestration', run, { STORE_SLOW_COMMAND_MS: '600000', NURTURE_SCORE_THRESHOLD: '20' }),
  );
  service = await startService(OrchestrationModule.forRoot(config), config);
  commands = storeCommandsOn(service.app.get<Connection>(STORE_CONNECTION), [
    'enrollments',
    'processed_events',
  ]);
  enrollments = service.app.get<Model<EnrollmentDoc>>(ENROLLMENT_MODEL);
  ({ kafka, registry, publisher } = await connectTestPublisher(`orch-${run}`, config, [Topics.LeadsScored]));
});

afterAll(async () => {
  await publisher?.disconnect();
  await service?.close();
  await stopTelemetry();
});

const score = (contact: string, points: number): LeadScored =>
  leadScoredFixture(workspace, contact, points, 'orch');

const publishScores = (scores: LeadScored[]): Promise<void> => publishLeadsScored(publisher, scores);

const enrollmentId = (contact: string): string => `${workspace}:welcome:${contact}`;

/** The steps announced for `scores`, by cause, once every one is on the topic. */
function stepsOf(scores: LeadScored[]): Promise<Map<string, string>> {
  return readCausedEvents<JourneyStepRecorded, string>(
    kafka,
    registry,
    Topics.JourneySteps,
    scores.map((s) => s.metadata.eventId),
    (step) => step.step,
  );
}

describe('orchestration enrolls a fetch of scores at a time', () => {
  it('enrolls a burst in a few store commands, at each contact’s newest score, announcing every score', async () => {
    // 100 contacts, each scored low, then high: the newest (high) score is the one that stands.
    const contacts = Array.from({ length: 100 }, (_, i) => `${run}-lead-${i}`);
    const burst = [...contacts.map((c) => score(c, 5)), ...contacts.map((c) => score(c, 50))];
    const ours = new Set(burst.map((s) => s.metadata.eventId));
    await publishScores(burst);

    const steps = await stepsOf(burst);
    expect(steps.size).toBe(200);
    const stored = await waitFor('every contact enrolled', async () => {
      const docs = await enrollments.find({ _id: { $in: contacts.map(enrollmentId) } }).lean();
      return docs.length === 100 ? docs : undefined;
    });
    expect(new Set(stored.map((doc) => doc.step))).toEqual(new Set(['sales-ready-nurture']));
    // Three commands per score before (a marker read, an enrollment update, a marker write); now a few per batch.
    const about = commands.filter(
      (json) => json.includes(workspace) || [...ours].some((id) => json.includes(id)),
    );
    expect(about.length).toBeLessThanOrEqual(30);
  });

  it('does not apply a redelivered score again, whichever path applied it first', async () => {
    const contact = `${run}-redelivered`;
    const first = score(contact, 50);
    // Alone, it takes the one-score path.
    await publishScores([first]);
    await stepsOf([first]);
    // A later change of the enrollment that a re-applied old score would overwrite.
    await enrollments.updateOne({ _id: enrollmentId(contact) }, { $set: { step: 'moved-on' } });

    const others = Array.from({ length: 50 }, (_, i) => score(`${run}-other-${i}`, 5));
    await publishScores([first, ...others]);
    await stepsOf(others);
    const doc = await enrollments.findById(enrollmentId(contact)).lean();
    expect(doc?.step).toBe('moved-on');
  });
});
