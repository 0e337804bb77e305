/**
 * ProcessedEventBatches on the real store: the batch form and `ProcessedEvents.once` read and write the same markers,
 * so a batch and the record-by-record retry of a failed batch never apply one event twice.
 */
import type { Connection } from 'mongoose';
import { connectServiceStore } from './mongo';
import { ProcessedEvents } from './processed-events';
import { testServiceEnv, uniqueId } from '@tributary/testing';
import { ProcessedEventBatches } from './processed-batches';

const run = uniqueId('peb');
const env = testServiceEnv('peb', run);
let connection: Connection;
let processed: ProcessedEvents;
let batches: ProcessedEventBatches;

beforeAll(async () => {
  connection = await connectServiceStore(env['MONGO_URL'] ?? '', env['MONGO_DB'] ?? '');
  processed = new ProcessedEvents(connection, 1);
  batches = new ProcessedEventBatches(connection);
});

afterAll(async () => {
  await connection?.close();
});

describe('ProcessedEventBatches', () => {
  it('sees what the one-event path applied, and the one-event path sees what a batch marked', async () => {
    const [a, b, c] = [uniqueId('evt'), uniqueId('evt'), uniqueId('evt')];
    await processed.once('journeys', a, () => Promise.resolve());

    expect(await batches.unprocessed('journeys', [a, b, c])).toEqual(new Set([b, c]));
    await batches.markProcessed('journeys', [b, b]);
    expect(await batches.unprocessed('journeys', [a, b, c])).toEqual(new Set([c]));

    let applied = 0;
    await processed.once('journeys', b, () => Promise.resolve(applied++));
    expect(applied).toBe(0);
    expect(await processed.seen('journeys', b)).toBe(true);
    // Markers are per scope: another consumer of the same event has not applied it.
    expect(await batches.unprocessed('sync', [a, b])).toEqual(new Set([a, b]));
  });

  it('marking nothing writes nothing, and an empty batch reads nothing', async () => {
    await expect(batches.markProcessed('journeys', [])).resolves.toBeUndefined();
    expect(await batches.unprocessed('journeys', [])).toEqual(new Set());
  });
});
