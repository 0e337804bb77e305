import { Inject, Injectable } from '@nestjs/common';

/** How far ahead of this replica's clock an event may be stamped (ms, from `MAX_FUTURE_SKEW_SECONDS`). */
export const MAX_FUTURE_SKEW_MS = Symbol('MAX_FUTURE_SKEW_MS');

/** No producer is trusted with time: every event time that becomes a fact or an as-of instant is capped here. */
@Injectable()
export class LeadClock {
  constructor(@Inject(MAX_FUTURE_SKEW_MS) private readonly maxFutureSkewMs: number) {}

  /** The latest time an event may claim now: its producer's clock may be ahead of ours by the allowed skew, no more. */
  latest(): number {
    return Date.now() + this.maxFutureSkewMs;
  }
}
