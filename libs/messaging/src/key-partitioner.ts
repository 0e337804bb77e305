import { randomInt } from 'node:crypto';
import type { ICustomPartitioner } from 'kafkajs';

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/**
 * Kafka's murmur2 (the Java client's `Utils.murmur2`, which every Kafka client hashes keys with) in 32-bit integer
 * math. kafkajs computes the same value with a Long object per step: its partitioner was a tenth of everything a
 * timer drain allocated. Only the low 32 bits of its 64-bit products ever reach the result, so `Math.imul` gives
 * the same number.
 */
export function murmur2(key: Buffer): number {
  const length = key.length;
  let h = (SEED ^ length) | 0;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k =
      (key[i] as number) |
      ((key[i + 1] as number) << 8) |
      ((key[i + 2] as number) << 16) |
      ((key[i + 3] as number) << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const rest = length & 3;
  if (rest === 3) h ^= (key[whole + 2] as number) << 16;
  if (rest >= 2) h ^= (key[whole + 1] as number) << 8;
  if (rest >= 1) h = Math.imul(h ^ (key[whole] as number), M);
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

const toPositive = (x: number): number => x & 0x7fffffff;

/**
 * kafkajs' default partitioner (Kafka's: a key's murmur2 modulo the partition count; no key, round robin over the
 * partitions that have a leader) on the allocation-free hash: every key lands where other Kafka clients put it.
 */
export const KeyHashPartitioner: ICustomPartitioner = () => {
  const counters = new Map<string, number>();
  return ({ topic, partitionMetadata, message }) => {
    if (message.partition !== null && message.partition !== undefined) return message.partition;
    const count = partitionMetadata.length;
    if (message.key !== null && message.key !== undefined) {
      const key = Buffer.isBuffer(message.key) ? message.key : Buffer.from(String(message.key));
      return toPositive(murmur2(key)) % count;
    }
    const next = (counters.get(topic) ?? randomInt(2 ** 31)) + 1;
    counters.set(topic, next);
    const available = partitionMetadata.filter((p) => p.leader >= 0);
    if (available.length > 0)
      return (available[toPositive(next) % available.length] as { partitionId: number }).partitionId;
    return toPositive(next) % count;
  };
};
