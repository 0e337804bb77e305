import type { MessageHandler } from '@nestjs/microservices';
import type { KafkaMessage, OffsetsByTopicPartition, TopicPartitionOffset } from 'kafkajs';
import { PartitionRunner, type BatchPayload, type PartitionRunnerParts } from './partition-runner';
import type { Outcome } from './record-processor';

const TOPIC = 'orders';
const PARTITION = 4;

const message = (offset: number): KafkaMessage => ({
  key: null,
  value: Buffer.from(`v${offset}`),
  timestamp: '0',
  attributes: 0,
  offset: String(offset),
  headers: {},
});

function handler(extras?: Record<string, unknown>): MessageHandler {
  const handle: MessageHandler = () => Promise.resolve(undefined);
  if (extras) handle.extras = extras;
  return handle;
}

/** A fake eachBatch payload and transport parts that record what the runner did, in order. */
function setup(options: {
  records: number;
  handler?: MessageHandler;
  chunkResult?: (offsets: string[]) => boolean | Promise<boolean>;
  outcome?: (offset: string) => Outcome | Promise<Outcome>;
  staleAfterResolving?: number;
}) {
  const log: string[] = [];
  const resolved: string[] = [];
  let heartbeats = 0;
  const handlers = new Map([[TOPIC, options.handler ?? handler()]]);
  const payload: BatchPayload = {
    batch: {
      topic: TOPIC,
      partition: PARTITION,
      messages: Array.from({ length: options.records }, (_, i) => message(i)),
    },
    resolveOffset: (offset) => {
      resolved.push(offset);
    },
    heartbeat: () => {
      heartbeats += 1;
      return Promise.resolve();
    },
    isRunning: () => true,
    isStale: () =>
      options.staleAfterResolving !== undefined && resolved.length >= options.staleAfterResolving,
    pause: () => {
      log.push('pause');
      return () => log.push('resume');
    },
    uncommittedOffsets: (): OffsetsByTopicPartition => ({
      topics: [{ topic: TOPIC, partitions: [{ partition: PARTITION, offset: resolved.at(-1) ?? '0' }] }],
    }),
    commitOffsetsIfNecessary: (offsets) => {
      log.push(`commit ${offsets?.topics[0]?.partitions[0]?.offset}`);
      return Promise.resolve();
    },
  };
  const parts: PartitionRunnerParts = {
    consumer: {
      seek: ({ offset }: TopicPartitionOffset) => {
        log.push(`seek ${offset}`);
      },
    },
    handlers,
    batchCalls: {
      tryChunk: async (_topic, _partition, messages) => {
        const offsets = messages.map((m) => m.offset);
        log.push(`chunk ${offsets.join(',')}`);
        return (await options.chunkResult?.(offsets)) ?? true;
      },
    },
    records: {
      process: async (_topic, _partition, m) => {
        log.push(`record ${m.offset}`);
        return (await options.outcome?.(m.offset)) ?? 'processed';
      },
    },
    pauses: {
      resumeWhenStoreIsBack: (_topic, _partition, resume) => {
        log.push('probe store');
        resume();
      },
    },
    commits: { commitResolved: (p) => p.commitOffsetsIfNecessary(p.uncommittedOffsets()) },
    isStopping: () => false,
  };
  return { runner: new PartitionRunner(parts), payload, log, resolved, heartbeats: () => heartbeats };
}

describe('PartitionRunner (kafkajs eachBatch of one partition)', () => {
  // Frozen clock: heartbeats and the time budget depend on the record count alone unless a test moves time.
  beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] }));
  afterEach(() => jest.useRealTimers());

  it('handles an @EventPattern batch record by record, resolving each offset, then commits once', async () => {
    const { runner, payload, log, resolved, heartbeats } = setup({ records: 250 });
    await runner.onBatch(payload);
    expect(resolved).toEqual(Array.from({ length: 250 }, (_, i) => String(i)));
    expect(log.filter((line) => line.startsWith('record'))).toHaveLength(250);
    expect(log.at(-1)).toBe('commit 249');
    expect(log.filter((line) => line.startsWith('commit'))).toHaveLength(1);
    expect(heartbeats()).toBe(2);
  });

  it('hands a batch handler chunks of maxBatch, and a last single record goes the record path', async () => {
    const { runner, payload, log, resolved } = setup({
      records: 7,
      handler: handler({ batch: true, maxBatch: 3 }),
    });
    await runner.onBatch(payload);
    expect(log).toEqual(['chunk 0,1,2', 'chunk 3,4,5', 'record 6', 'commit 6']);
    expect(resolved).toEqual(['2', '5', '6']);
  });

  it('goes record by record through a chunk whose call failed', async () => {
    const { runner, payload, log, resolved } = setup({
      records: 4,
      handler: handler({ batch: true, maxBatch: 2 }),
      chunkResult: (offsets) => offsets[0] !== '0',
    });
    await runner.onBatch(payload);
    expect(log).toEqual(['chunk 0,1', 'record 0', 'record 1', 'chunk 2,3', 'commit 3']);
    expect(resolved).toEqual(['0', '1', '3']);
  });

  it('on a store outage, rewinds to the record, pauses the partition until the store is back, and stops', async () => {
    const { runner, payload, log, resolved } = setup({
      records: 5,
      outcome: (offset) => (offset === '2' ? 'paused' : 'processed'),
    });
    await runner.onBatch(payload);
    expect(log).toEqual([
      'record 0',
      'record 1',
      'record 2',
      'seek 2',
      'pause',
      'probe store',
      'resume',
      'commit 1',
    ]);
    expect(resolved).toEqual(['0', '1']);
  });

  it('stops when the batch went stale (a rebalance or a seek)', async () => {
    const { runner, payload, log } = setup({ records: 5, staleAfterResolving: 2 });
    await runner.onBatch(payload);
    expect(log).toEqual(['record 0', 'record 1', 'commit 1']);
  });

  it("leaves the rest of a batch handler's batch to the next fetch once it took more than 5 s", async () => {
    const { runner, payload, log } = setup({
      records: 6,
      handler: handler({ batch: true, maxBatch: 2 }),
      chunkResult: () => {
        jest.advanceTimersByTime(5_001);
        return true;
      },
    });
    await runner.onBatch(payload);
    expect(log).toEqual(['chunk 0,1', 'commit 1']);
  });

  it('commits what was handled before a failure, then rethrows it', async () => {
    const failure = new Error('rebalance in progress');
    const { runner, payload, log } = setup({
      records: 3,
      outcome: (offset) => (offset === '1' ? Promise.reject(failure) : 'processed'),
    });
    await expect(runner.onBatch(payload)).rejects.toBe(failure);
    expect(log).toEqual(['record 0', 'record 1', 'commit 0']);
  });
});
