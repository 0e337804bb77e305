/**
 * Sync on the real stack, the service in this process: a burst of scores reaches the golden records a fetch at a
 * time (a few store commands for hundreds of scores), each record at its contact's newest score, every score's change
 * queued; a score already applied (by either path) is not applied again when redelivered.
 */
import type { Kafka } from 'kafkajs';
import type { Connection, Model } from 'mongoose';
import { Topics, type LeadScored, type OutboundSyncQueued } from '@tributary/contracts';
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
import { SyncModule } from '../app.module';
import { loadSyncConfig } from '../config';
import { GOLDEN_RECORD_MODEL, type GoldenRecordDoc } from './golden-record.model';

const run = uniqueId('sync');
const workspace = `ws_sync_${run}`;
let service: RunningService;
let kafka: Kafka;
let registry: AvroSchemaRegistry;
let publisher: EventPublisher;
let records: Model<GoldenRecordDoc>;
/** The store commands this service sent, as JSON, to count those about the test's scores. */
let commands: string[] = [];

beforeAll(async () => {
  // Any bound turns on the driver's command monitoring, which the test listens to; the bound itself logs nothing here.
  const config = loadSyncConfig(testServiceEnv('sync', run, { STORE_SLOW_COMMAND_MS: '600000' }));
  service = await startService(SyncModule.forRoot(config), config);
  commands = storeCommandsOn(service.app.get<Connection>(STORE_CONNECTION), [
    'golden_records',
    'processed_events',
  ]);
  records = service.app.get<Model<GoldenRecordDoc>>(GOLDEN_RECORD_MODEL);
  ({ kafka, registry, publisher } = await connectTestPublisher(`sync-${run}`, config, [Topics.LeadsScored]));
});

afterAll(async () => {
  await publisher?.disconnect();
  await service?.close();
  await stopTelemetry();
});

const score = (contact: string, points: number): LeadScored =>
  leadScoredFixture(workspace, contact, points, 'sync');

const publishScores = (scores: LeadScored[]): Promise<void> => publishLeadsScored(publisher, scores);

/** The changes queued for `scores`, by cause, once every one is on the topic. */
function changesOf(scores: LeadScored[]): Promise<Map<string, string>> {
  return readCausedEvents<OutboundSyncQueued, string>(
    kafka,
    registry,
    Topics.SyncOutbound,
    scores.map((s) => s.metadata.eventId),
    (change) => change.fieldsJson,
  );
}

describe('sync keeps golden records a fetch of scores at a time', () => {
  it('applies a burst in a few store commands, at each contact’s newest score, queueing every change', async () => {
    // 100 contacts, each scored low, then high: the newest (high) score is the one that stands.
    const contacts = Array.from({ length: 100 }, (_, i) => `${run}-lead-${i}`);
    const burst = [...contacts.map((c) => score(c, 5)), ...contacts.map((c) => score(c, 50))];
    const ours = new Set(burst.map((s) => s.metadata.eventId));
    await publishScores(burst);

    const changes = await changesOf(burst);
    expect(changes.size).toBe(200);
    const stored = await waitFor('every golden record written', async () => {
      const docs = await records.find({ _id: { $in: contacts } }).lean();
      return docs.length === 100 ? docs : undefined;
    });
    expect(new Set(stored.map((doc) => doc.fields.leadScore))).toEqual(new Set([50]));
    // Three commands per score before (a marker read, a record update, a marker write); now a few per batch.
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
    await changesOf([first]);
    // A later change of the record that a re-applied old score would overwrite.
    await records.updateOne({ _id: contact }, { $set: { 'fields.leadScore': 77 } });

    const others = Array.from({ length: 50 }, (_, i) => score(`${run}-other-${i}`, 5));
    await publishScores([first, ...others]);
    await changesOf(others);
    const doc = await records.findById(contact).lean();
    expect(doc?.fields.leadScore).toBe(77);
  });
});
