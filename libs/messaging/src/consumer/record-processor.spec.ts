import type { MessageHandler } from '@nestjs/microservices';
import type { KafkaMessage } from 'kafkajs';
import { of } from 'rxjs';
import type { Logger } from '@tributary/observability';
import type { AvroSchemaRegistry } from '../schema-registry';
import type { EventPublisher } from '../event-publisher';
import { PoisonMessageError } from './failure-policy';
import { ConsumerSpans } from './consumer-tracing';
import { RecordProcessor } from './record-processor';

const message = (partition: number): KafkaMessage => ({
  key: Buffer.from(`offer-${partition}`),
  value: Buffer.from([0, 0, 0, 0, 1]),
  timestamp: '0',
  attributes: 0,
  offset: '0',
  headers: {},
});

describe('RecordProcessor dead letters', () => {
  it('registers the dead-letter schema once when partitions dead-letter their first records at once', async () => {
    let registrations = 0;
    const registry = {
      decodeCached: () => ({ value: { offerId: 'poison' } }),
      deadLetterSchemaId: async () => {
        registrations++;
        await new Promise((resolve) => setTimeout(resolve, 10));
        // The registry refuses a second concurrent first registration of the subject.
        if (registrations > 1) throw new Error("A rule named 'COMPATIBILITY' already exists");
        return 7;
      },
      encodeWithId: (id: number) => Promise.resolve(Buffer.from([0, 0, 0, 0, id])),
    } as unknown as AvroSchemaRegistry;
    const letters: string[] = [];
    const publisher = {
      publishRaw: (topic: string, record: { key: Buffer | null }) => {
        letters.push(`${topic}:${record.key?.toString()}`);
        return Promise.resolve();
      },
    } as unknown as EventPublisher;
    const logger = { error: () => undefined, warn: () => undefined } as unknown as Logger;
    const poison: MessageHandler = () => Promise.reject(new PoisonMessageError('malformed'));
    const processor = new RecordProcessor(
      {
        registry,
        publisher,
        logger,
        retry: { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 2 },
        consumerGroup: 'sync',
      },
      new Map([['offers', poison]]),
      (result) => of(result),
      new ConsumerSpans('sync', 'sync'),
      () => false,
    );
    const beat = () => Promise.resolve();

    const outcomes = await Promise.all([
      processor.process('offers', 0, message(0), beat),
      processor.process('offers', 1, message(1), beat),
    ]);

    expect(outcomes).toEqual(['processed', 'processed']);
    expect(registrations).toBe(1);
    expect(letters.sort()).toEqual(['dlq.sync:offer-0', 'dlq.sync:offer-1']);
  });
});
