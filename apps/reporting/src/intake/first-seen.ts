import type { Connection } from 'mongoose';
import type { RecordPosition } from '@tributary/messaging';
import {
  expireDocuments,
  findByIds,
  insertClaims,
  type BatchCollection,
  type ExpiringCollection,
} from '@tributary/store';

/** Which record first carried an event: later copies of it (a producer's retry, an outbox republished) are dropped. */
interface SeenDoc {
  _id: string;
  /** `partition:offset` of the record that claimed the event. */
  at: string;
  seenAt: Date;
}

export const SEEN_COLLECTION = 'report_seen_events';

/** Longer than any topic's retention a republish could come from (they follow a crash within minutes). */
const SEEN_TTL_MS = 8 * 24 * 3_600_000;

/**
 * Drops events already taken in under another record. A producer may publish one event twice (the same eventId at
 * two offsets): the tallies' offset marks cannot see that, so each event is claimed by the first record carrying it.
 * A record that is delivered again finds its own claim (same partition and offset) and is taken in again, for the
 * marks to decide what it still lacks: a crash between the claim and the counts loses nothing.
 */
export class FirstSeenEvents {
  constructor(private readonly connection: Connection) {}

  /** Expires claims after the TTL (a sweep on FerretDB, which has no TTL indexes). */
  async start(): Promise<{ stop(): void }> {
    return expireDocuments(this.collection() as unknown as ExpiringCollection, 'seenAt', SEEN_TTL_MS);
  }

  /** `fresh[i]`: whether the i-th record is the one its event was first seen in. */
  async claim(
    topic: string,
    eventIds: readonly string[],
    positions: readonly RecordPosition[],
  ): Promise<boolean[]> {
    const seenAt = new Date();
    const docs: SeenDoc[] = eventIds.map((eventId, i) => ({
      _id: `${topic}|${eventId}`,
      at: atOf(positions[i]),
      seenAt,
    }));
    const taken = await insertClaims(this.collection(), docs);
    if (taken.size === 0) return docs.map(() => true);
    const claims = await findByIds(
      this.collection(),
      [...taken].map((i) => docs[i]?._id ?? ''),
      { at: 1 },
    );
    return docs.map((doc, i) => !taken.has(i) || claims.get(doc._id)?.at === doc.at);
  }

  private collection(): BatchCollection<SeenDoc> {
    return this.connection.collection(SEEN_COLLECTION) as unknown as BatchCollection<SeenDoc>;
  }
}

function atOf(position: RecordPosition | undefined): string {
  if (!position) throw new Error('a record without a position');
  return `${position.partition}:${position.offset}`;
}
