import type { Admin, Consumer, Kafka } from 'kafkajs';
import { Topics } from '@tributary/contracts';
import { createLogger } from '@tributary/observability';
import { CredentialTable } from './credential-table';

type CrashListener = (event: { payload: { error: Error; restart: boolean } }) => void;

/** Kafka with one topic partition holding `high` records, and a consumer that never delivers them. */
function fakeKafka(high: number): { kafka: Kafka; admin: Admin; crash: (restart: boolean) => void } {
  let onCrash: CrashListener = () => undefined;
  const consumer = {
    events: { CRASH: 'consumer.crash' },
    on: (_event: string, listener: CrashListener) => {
      onCrash = listener;
      return () => undefined;
    },
    connect: async () => undefined,
    subscribe: async () => undefined,
    run: async () => undefined,
    disconnect: async () => undefined,
  } as unknown as Consumer;
  const admin = {
    listTopics: async () => [Topics.AccessCredentials],
    fetchTopicMetadata: async () => ({ topics: [] }),
    fetchTopicOffsets: async () => [{ partition: 0, low: '0', high: String(high), offset: String(high) }],
  } as unknown as Admin;
  const kafka = { consumer: () => consumer } as unknown as Kafka;
  return {
    kafka,
    admin,
    crash: (restart) => onCrash({ payload: { error: new Error('broker went away'), restart } }),
  };
}

function table(kafka: Kafka, admin: Admin): CredentialTable {
  return new CredentialTable({
    kafka,
    admin,
    registry: { decode: async () => null },
    logger: createLogger('credential-table-test', 'silent'),
    service: 'test',
    replicationFactor: 1,
  });
}

describe('CredentialTable', () => {
  it('is ready at once when the topic is empty', async () => {
    const { kafka, admin } = fakeKafka(0);
    const credentials = table(kafka, admin);
    await credentials.start();
    await expect(credentials.waitUntilReady(60_000)).resolves.toBeUndefined();
    expect(credentials.isReady()).toBe(true);
  });

  it('fails start-up at once, saying why, when its consumer gives up before catching up', async () => {
    const { kafka, admin, crash } = fakeKafka(3);
    const credentials = table(kafka, admin);
    await credentials.start();
    jest.useFakeTimers();
    try {
      const outcome = credentials.waitUntilReady(600_000).then(
        () => 'ready',
        (error: Error) => error.message,
      );
      crash(false);
      // No time passes: the answer is there before any timeout could have fired.
      await jest.advanceTimersByTimeAsync(0);
      expect(await Promise.race([outcome, Promise.resolve('still waiting')])).toMatch(
        /consumer stopped before catching up: Error: broker went away/,
      );
      expect(credentials.isReady()).toBe(false);
    } finally {
      jest.useRealTimers();
    }
  });

  it('keeps waiting through a crash the consumer restarts from, until the timeout', async () => {
    const { kafka, admin, crash } = fakeKafka(3);
    const credentials = table(kafka, admin);
    await credentials.start();
    jest.useFakeTimers();
    try {
      const waiting = credentials.waitUntilReady(1_000);
      const outcome = waiting.then(
        () => 'ready',
        (error: Error) => error.message,
      );
      crash(true);
      await jest.advanceTimersByTimeAsync(999);
      expect(credentials.isReady()).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      expect(await outcome).toMatch(/partition 0 below offset 3/);
    } finally {
      jest.useRealTimers();
    }
  });
});
