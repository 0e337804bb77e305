import type { Kafka, ProducerBatch } from 'kafkajs';
import { Topics } from '@tributary/contracts';
import { EventPublisher } from './event-publisher';
import type { AvroSchemaRegistry } from './schema-registry';

/** A producer whose sendBatch calls complete only when the test says so, recording what each one held. */
function slowKafka() {
  const batches: { batch: ProducerBatch; done: () => void; fail: (e: Error) => void }[] = [];
  const producer = {
    sendBatch: (batch: ProducerBatch) =>
      new Promise<void>((resolve, reject) => batches.push({ batch, done: resolve, fail: reject })),
  };
  return { kafka: { producer: () => producer } as unknown as Kafka, batches };
}

const record = (key: string) => ({ key, value: Buffer.from(key) });
const keysOf = (batch: ProducerBatch) =>
  (batch.topicMessages ?? []).flatMap((t) => t.messages.map((m) => `${t.topic}:${String(m.key)}`));
const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('EventPublisher.publishEncoded group commit', () => {
  it('sends what callers queue while a send is in flight together in the next request, answering each after its ack', async () => {
    const { kafka, batches } = slowKafka();
    const publisher = new EventPublisher(kafka, {} as AvroSchemaRegistry, 'test');
    const answered: string[] = [];
    const first = publisher
      .publishEncoded(Topics.TrackingEvents, [record('a')])
      .then(() => answered.push('a'));
    await settled();
    const second = publisher
      .publishEncoded(Topics.TrackingEvents, [record('b')])
      .then(() => answered.push('b'));
    const third = publisher
      .publishEncoded(Topics.IngestionRejected, [record('c')], { timeoutMs: 3_000 })
      .then(() => answered.push('c'));
    await settled();
    expect(batches.map((b) => keysOf(b.batch))).toEqual([['tracking.events:a']]);

    batches[0]?.done();
    await first;
    await settled();
    expect(answered).toEqual(['a']);
    expect(batches.map((b) => keysOf(b.batch))).toEqual([
      ['tracking.events:a'],
      ['tracking.events:b', 'ingestion.rejected:c'],
    ]);
    expect(batches[1]?.batch.timeout).toBe(3_000);
    expect(batches[1]?.batch.acks).toBe(-1);

    batches[1]?.done();
    await Promise.all([second, third]);
    expect(answered).toEqual(['a', 'b', 'c']);
  });

  it('fails every caller of a failed request, and the next callers go on', async () => {
    const { kafka, batches } = slowKafka();
    const publisher = new EventPublisher(kafka, {} as AvroSchemaRegistry, 'test');
    const failed = publisher.publishEncoded(Topics.TrackingEvents, [record('x')]);
    await settled();
    batches[0]?.fail(new Error('broker gone'));
    await expect(failed).rejects.toThrow('broker gone');

    const next = publisher.publishEncoded(Topics.TrackingEvents, [record('y')]);
    await settled();
    batches[1]?.done();
    await expect(next).resolves.toBeUndefined();
    expect(batches.map((b) => keysOf(b.batch))).toEqual([['tracking.events:x'], ['tracking.events:y']]);
  });
});
