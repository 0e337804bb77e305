/** Whether a call's messageId was already stored within the dedupe window. */
export type DedupeDecision = 'new' | 'duplicate';

/** What a compaction dropped: ids past the window, and ids evicted early because the table was full. */
export interface Compaction {
  expired: number;
  evicted: number;
  /** With evictions: the oldest storedAt (ms) still remembered, i.e. how far back the window now reaches. */
  oldestKeptAt?: number;
}

// One entry: three 32-bit words of the eventId and the second it was stored.
const WORDS = 4;
const UUID_LENGTH = 36;
// The index is kept at most half full: linear probing stays short.
const MAX_LOAD = 0.5;

/**
 * 96 bits of an eventId. Tracking eventIds are UUIDv5 (SHA-1 of workspace and messageId), so their hex digits are
 * already uniformly spread: three 32-bit words (92 bits of hash, the version nibble being fixed) make a false
 * "duplicate" among a million ids about 1 in 10^16. Anything else gets a string hash.
 */
function digest(eventId: string, out: Uint32Array): void {
  if (eventId.length === UUID_LENGTH && eventId[8] === '-') {
    out[0] = parseInt(eventId.slice(0, 8), 16);
    out[1] = parseInt(eventId.slice(9, 13) + eventId.slice(14, 18), 16);
    out[2] = parseInt(eventId.slice(28, 36), 16);
    if (!Number.isNaN(out[0]) && !Number.isNaN(out[1]) && !Number.isNaN(out[2])) return;
  }
  // FNV-1a with three offset bases: only for ids that are not UUIDs (none are produced today).
  let a = 0x811c9dc5;
  let b = 0x01000193;
  let c = 0x9e3779b9;
  for (let i = 0; i < eventId.length; i += 1) {
    const code = eventId.charCodeAt(i);
    a = Math.imul(a ^ code, 0x01000193);
    b = Math.imul(b ^ code, 0x01000197);
    c = Math.imul(c ^ code, 0x0100019d);
  }
  out[0] = a;
  out[1] = b;
  out[2] = c;
}

/**
 * The eventIds of tracking calls stored within the dedupe window, for the edge's messageId dedupe: no I/O, no
 * per-id objects for the garbage collector to trace.
 *
 * Ids sit in a ring in the order they were stored (16 bytes each) and an open-addressed index points into it (4 bytes
 * a slot, at most half full): about 24 MB for a million ids. The ring's head is the oldest id, so expiry and, past
 * `maxIds`, eviction drop one id at a time as new ones come, and never scan the whole table (a full compaction of a
 * million ids took a tenth of a second and held a second table meanwhile).
 *
 * An id stored again keeps its place in the ring with the later second: it stops counting when that second leaves
 * the window, and may leave memory a little after its neighbours.
 */
export class StoredEventIds {
  private ring: Uint32Array;
  private index: Uint32Array;
  private mask: number;
  /** Ids ever added and ids ever dropped: the ring holds positions [dropped, added). */
  private added = 0;
  private dropped = 0;
  private readonly key = new Uint32Array(3);
  /** For ids already held (eviction, growth), so `key` survives them in the middle of an `add`. */
  private readonly held = new Uint32Array(3);
  private expiredSinceReport = 0;
  private evictedSinceReport = 0;
  private lastEvictedSecond = 0;

  constructor(
    private readonly windowMs: number,
    private readonly maxIds: number,
    // 1 MB: a busy replica's first seconds without growing.
    initialIds = 1 << 16,
  ) {
    const capacity = Math.max(1, Math.min(maxIds, Math.max(16, initialIds)));
    this.ring = new Uint32Array(capacity * WORDS);
    this.index = new Uint32Array(indexSlotsFor(capacity));
    this.mask = this.index.length - 1;
  }

  /** Ids held, expired ones included until they reach the head of the ring. */
  get size(): number {
    return this.added - this.dropped;
  }

  /** Bytes the ring and its index take. */
  get bytes(): number {
    return this.ring.byteLength + this.index.byteLength;
  }

  /** New or duplicate, for each eventId in input order. */
  decide(eventIds: readonly string[], now = Date.now()): DedupeDecision[] {
    return eventIds.map((id) => (this.has(id, now) ? 'duplicate' : 'new'));
  }

  /** Whether the id was stored within the window. */
  has(eventId: string, now = Date.now()): boolean {
    digest(eventId, this.key);
    const entry = this.index[this.find(this.key)] ?? 0;
    if (entry === 0) return false;
    return (this.ring[(entry - 1) * WORDS + 3] ?? 0) * 1000 > now - this.windowMs;
  }

  /** Remembers an id as stored at `storedAt` (ms); a later time wins, so a re-stored id starts its window again. */
  add(eventId: string, storedAt: number, now = Date.now()): void {
    this.dropExpired(now);
    const second = Math.max(1, Math.floor(storedAt / 1000));
    digest(eventId, this.key);
    const found = this.index[this.find(this.key)] ?? 0;
    if (found !== 0) {
      const at = (found - 1) * WORDS + 3;
      if (second > (this.ring[at] ?? 0)) this.ring[at] = second;
      return;
    }
    if (this.size === this.ring.length / WORDS) {
      if (this.size < this.maxIds) this.grow();
      else this.evictOldest();
    }
    const position = this.added % (this.ring.length / WORDS);
    const base = position * WORDS;
    this.ring[base] = this.key[0] ?? 0;
    this.ring[base + 1] = this.key[1] ?? 0;
    this.ring[base + 2] = this.key[2] ?? 0;
    this.ring[base + 3] = second;
    // The slot may have moved if the table grew or an eviction shifted a neighbour.
    this.index[this.find(this.key)] = position + 1;
    this.added += 1;
  }

  /**
   * Drops the ids past the window now, and says what went since the last call: ids past the window, and ids evicted
   * early because more than maxIds came within it (then also how far back the window still reaches).
   */
  compact(now = Date.now()): Compaction {
    this.dropExpired(now);
    const expired = this.expiredSinceReport;
    const evicted = this.evictedSinceReport;
    this.expiredSinceReport = 0;
    this.evictedSinceReport = 0;
    return evicted > 0
      ? { expired, evicted, oldestKeptAt: this.oldestKeptSecond() * 1000 }
      : { expired, evicted };
  }

  private dropExpired(now: number): void {
    const windowStart = Math.floor((now - this.windowMs) / 1000);
    while (this.size > 0 && (this.ring[this.headBase() + 3] ?? 0) <= windowStart) {
      this.dropHead();
      this.expiredSinceReport += 1;
    }
  }

  private evictOldest(): void {
    this.lastEvictedSecond = this.ring[this.headBase() + 3] ?? 0;
    this.dropHead();
    this.evictedSinceReport += 1;
  }

  /** The oldest second still remembered: the ring's head, or the evicted one's when nothing is left. */
  private oldestKeptSecond(): number {
    return this.size > 0 ? (this.ring[this.headBase() + 3] ?? 0) : this.lastEvictedSecond;
  }

  private headBase(): number {
    return (this.dropped % (this.ring.length / WORDS)) * WORDS;
  }

  /** Removes the head of the ring from the index (backward-shift deletion keeps every probe chain unbroken). */
  private dropHead(): void {
    const base = this.headBase();
    this.held[0] = this.ring[base] ?? 0;
    this.held[1] = this.ring[base + 1] ?? 0;
    this.held[2] = this.ring[base + 2] ?? 0;
    let hole = this.find(this.held);
    let slot = hole;
    for (;;) {
      slot = (slot + 1) & this.mask;
      const entry = this.index[slot] ?? 0;
      if (entry === 0) break;
      const home = this.homeOfEntry(entry);
      // The entry may move into the hole unless its home lies cyclically in (hole, slot].
      const between = hole <= slot ? home > hole && home <= slot : home > hole || home <= slot;
      if (!between) {
        this.index[hole] = entry;
        hole = slot;
      }
    }
    this.index[hole] = 0;
    this.dropped += 1;
  }

  /** Twice the ring (up to maxIds), ids kept in order, index rebuilt. */
  private grow(): void {
    const capacity = this.ring.length / WORDS;
    const next = Math.min(this.maxIds, capacity * 2);
    const ring = new Uint32Array(next * WORDS);
    const size = this.size;
    for (let i = 0; i < size; i += 1) {
      const from = ((this.dropped + i) % capacity) * WORDS;
      ring.set(this.ring.subarray(from, from + WORDS), i * WORDS);
    }
    this.ring = ring;
    this.index = new Uint32Array(indexSlotsFor(next));
    this.mask = this.index.length - 1;
    this.dropped = 0;
    this.added = size;
    for (let i = 0; i < size; i += 1) {
      this.held[0] = ring[i * WORDS] ?? 0;
      this.held[1] = ring[i * WORDS + 1] ?? 0;
      this.held[2] = ring[i * WORDS + 2] ?? 0;
      this.index[this.find(this.held)] = i + 1;
    }
  }

  /** The index slot pointing at `key`'s entry, else the empty slot where it goes (the index is never full). */
  private find(key: Uint32Array): number {
    const a = key[0] ?? 0;
    const b = key[1] ?? 0;
    const c = key[2] ?? 0;
    let slot = home(a, b, this.mask);
    for (;;) {
      const entry = this.index[slot] ?? 0;
      if (entry === 0) return slot;
      const base = (entry - 1) * WORDS;
      if (this.ring[base] === a && this.ring[base + 1] === b && this.ring[base + 2] === c) return slot;
      slot = (slot + 1) & this.mask;
    }
  }

  private homeOfEntry(entry: number): number {
    const base = (entry - 1) * WORDS;
    return home(this.ring[base] ?? 0, this.ring[base + 1] ?? 0, this.mask);
  }
}

function home(a: number, b: number, mask: number): number {
  return (a ^ Math.imul(b, 0x9e3779b1)) & mask;
}

/** A power of two at least capacity / MAX_LOAD. */
function indexSlotsFor(capacity: number): number {
  let slots = 1;
  while (slots < capacity / MAX_LOAD) slots *= 2;
  return slots;
}
