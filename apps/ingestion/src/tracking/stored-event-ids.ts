/** Whether a call's messageId was already stored within the dedupe window. */
export type DedupeDecision = 'new' | 'duplicate';

/** What a compaction dropped: ids past the window, and ids evicted early because the table was full. */
export interface Compaction {
  expired: number;
  evicted: number;
  /** With evictions: the oldest storedAt (ms) still remembered, i.e. how far back the window now reaches. */
  oldestKeptAt?: number;
}

// One slot: three 32-bit words of the eventId and the second it was stored (0 = empty slot).
const WORDS = 4;
const UUID_LENGTH = 36;
// Grown past half full: linear probing stays short.
const MAX_LOAD = 0.5;
// Evicting stops this far below maxIds: a compaction scans the whole table, so a full one runs every quarter of
// maxIds adds (reading back a window twice the bound spent half its start-up compacting at 0.9).
const EVICT_TO = 0.75;

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
 * The eventIds of tracking calls stored within the dedupe window, for the edge's messageId dedupe. One
 * open-addressed table of typed arrays, 16 bytes a slot, at most half full: a million ids take 32 MB, where a Set of
 * the id strings would take about 100 MB of heap and keep the garbage collector busy.
 *
 * Ids past the window stop counting at once (each slot keeps its second) and leave at the next `compact`. Beyond
 * `maxIds` the oldest are evicted early: the window then reaches back less far, which `compact` reports.
 */
export class StoredEventIds {
  private slots: Uint32Array;
  private mask: number;
  private count = 0;
  private readonly key = new Uint32Array(3);

  constructor(
    private readonly windowMs: number,
    private readonly maxIds: number,
    // 2 MB: a busy replica's first minutes without resizing.
    initialSlots = 1 << 17,
  ) {
    let slots = 1;
    while (slots < initialSlots) slots *= 2;
    this.slots = new Uint32Array(slots * WORDS);
    this.mask = slots - 1;
  }

  /** Ids held, expired ones included until the next compaction. */
  get size(): number {
    return this.count;
  }

  /** Bytes the table takes. */
  get bytes(): number {
    return this.slots.byteLength;
  }

  /** New or duplicate, for each eventId in input order. */
  decide(eventIds: readonly string[], now = Date.now()): DedupeDecision[] {
    return eventIds.map((id) => (this.has(id, now) ? 'duplicate' : 'new'));
  }

  /** Whether the id was stored within the window. */
  has(eventId: string, now = Date.now()): boolean {
    digest(eventId, this.key);
    const slot = this.find(this.slots, this.mask, this.key);
    const storedAt = this.slots[slot * WORDS + 3] ?? 0;
    return storedAt !== 0 && storedAt * 1000 > now - this.windowMs;
  }

  /** Remembers an id as stored at `storedAt` (ms); a later time wins, so a re-stored id starts its window again. */
  add(eventId: string, storedAt: number, now = Date.now()): void {
    if (this.count + 1 > (this.mask + 1) * MAX_LOAD) this.resize((this.mask + 1) * 2);
    if (this.count + 1 > this.maxIds) this.compact(now);
    digest(eventId, this.key);
    const second = Math.max(1, Math.floor(storedAt / 1000));
    const base = this.find(this.slots, this.mask, this.key) * WORDS;
    const previous = this.slots[base + 3] ?? 0;
    if (previous === 0) {
      this.slots[base] = this.key[0] ?? 0;
      this.slots[base + 1] = this.key[1] ?? 0;
      this.slots[base + 2] = this.key[2] ?? 0;
      this.count += 1;
    }
    if (second > previous) this.slots[base + 3] = second;
  }

  /** Drops ids past the window, then, when maxIds or more remain, the oldest down to 75% of maxIds. */
  compact(now = Date.now()): Compaction {
    const windowStart = Math.floor((now - this.windowMs) / 1000);
    let cutoff = windowStart;
    let live = 0;
    for (let i = 3; i < this.slots.length; i += WORDS) {
      const second = this.slots[i] ?? 0;
      if (second > windowStart) live += 1;
    }
    if (live >= this.maxIds) {
      // The second up to which ids go so that EVICT_TO of maxIds stay, the oldest first: counted per second of the
      // window (one pass, no sort of a million times).
      const nowSecond = Math.floor(now / 1000);
      const perSecond = new Uint32Array(Math.max(1, nowSecond - windowStart + 1));
      let later = 0;
      for (let i = 3; i < this.slots.length; i += WORDS) {
        const second = this.slots[i] ?? 0;
        if (second <= windowStart) continue;
        if (second > nowSecond) later += 1;
        else perSecond[second - windowStart] = (perSecond[second - windowStart] ?? 0) + 1;
      }
      let kept = later;
      const keep = Math.floor(this.maxIds * EVICT_TO);
      let second = nowSecond;
      while (second > windowStart && kept + (perSecond[second - windowStart] ?? 0) <= keep) {
        kept += perSecond[second - windowStart] ?? 0;
        second -= 1;
      }
      cutoff = second;
    }
    const before = this.count;
    let expired = 0;
    let oldestKept = Number.POSITIVE_INFINITY;
    const next = new Uint32Array(this.slots.length);
    const key = new Uint32Array(3);
    this.count = 0;
    for (let base = 0; base < this.slots.length; base += WORDS) {
      const second = this.slots[base + 3] ?? 0;
      if (second === 0) continue;
      if (second <= windowStart) {
        expired += 1;
        continue;
      }
      if (second <= cutoff) continue;
      key.set(this.slots.subarray(base, base + 3));
      const to = this.find(next, this.mask, key) * WORDS;
      next.set(this.slots.subarray(base, base + WORDS), to);
      this.count += 1;
      oldestKept = Math.min(oldestKept, second);
    }
    this.slots = next;
    const evicted = before - expired - this.count;
    return evicted > 0 ? { expired, evicted, oldestKeptAt: oldestKept * 1000 } : { expired, evicted };
  }

  /** The slot holding `key`, else the empty slot where it goes (the table is never full). */
  private find(slots: Uint32Array, mask: number, key: Uint32Array): number {
    const [a = 0, b = 0, c = 0] = key;
    let slot = (a ^ Math.imul(b, 0x9e3779b1)) & mask;
    for (;;) {
      const base = slot * WORDS;
      if (slots[base + 3] === 0) return slot;
      if (slots[base] === a && slots[base + 1] === b && slots[base + 2] === c) return slot;
      slot = (slot + 1) & mask;
    }
  }

  private resize(slotCount: number): void {
    const old = this.slots;
    this.slots = new Uint32Array(slotCount * WORDS);
    this.mask = slotCount - 1;
    const key = new Uint32Array(3);
    for (let base = 0; base < old.length; base += WORDS) {
      if ((old[base + 3] ?? 0) === 0) continue;
      key.set(old.subarray(base, base + 3));
      this.slots.set(old.subarray(base, base + WORDS), this.find(this.slots, this.mask, key) * WORDS);
    }
  }
}
