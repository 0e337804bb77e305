import { randomBytes } from 'node:crypto';
import { Partitioners, type PartitionerArgs } from 'kafkajs';
import { KeyHashPartitioner, murmur2 } from './key-partitioner';

const metadata = (count: number): PartitionerArgs['partitionMetadata'] =>
  Array.from({ length: count }, (_, partitionId) => ({
    partitionErrorCode: 0,
    partitionId,
    leader: 1,
    replicas: [1],
    isr: [1],
  }));

describe('KeyHashPartitioner', () => {
  it('puts every key on the partition kafkajs’ default (Java-compatible) partitioner picks', () => {
    const ours = KeyHashPartitioner();
    const theirs = Partitioners.DefaultPartitioner();
    const keys = [
      '',
      'a',
      'ab',
      'abc',
      'abcd',
      'ws_demo:welcome-nurture:contact-0001',
      'Zoë:Straße:東京',
      ...Array.from({ length: 2_000 }, (_, i) => randomBytes(i % 97).toString(i % 2 ? 'hex' : 'latin1')),
    ];
    for (const count of [1, 3, 6, 12, 24]) {
      const partitionMetadata = metadata(count);
      for (const key of keys) {
        const args = { topic: 'journey.steps', partitionMetadata, message: { key, value: null } };
        expect([key, ours(args)]).toEqual([key, theirs(args)]);
      }
    }
  });

  it('hashes as Kafka’s Java client does: known values', () => {
    // Values from org.apache.kafka.common.utils.Utils.murmur2 (also in kafkajs' and librdkafka's test suites).
    expect(murmur2(Buffer.from('21'))).toBe(-973932308);
    expect(murmur2(Buffer.from('foobar'))).toBe(-790332482);
    expect(murmur2(Buffer.from('a-little-bit-long-string'))).toBe(-985981536);
    expect(murmur2(Buffer.from(''))).toBe(275646681);
  });

  it('keeps an explicit partition, and spreads keyless messages round robin', () => {
    const ours = KeyHashPartitioner();
    const partitionMetadata = metadata(4);
    expect(ours({ topic: 't', partitionMetadata, message: { key: 'k', value: null, partition: 3 } })).toBe(3);
    const picked = Array.from({ length: 8 }, () =>
      ours({ topic: 't', partitionMetadata, message: { value: null } }),
    );
    expect(new Set(picked).size).toBe(4);
    expect(picked.slice(4)).toEqual(picked.slice(0, 4));
  });
});
