import { Cron } from 'croner';

/**
 * When a scheduled journey runs: a five-field cron (minute hour day-of-month month weekday) read in a time zone, or
 * one instant. Croner does the calendar: a time the clock skips (spring forward) runs at the first minute after the
 * gap, a time the clock shows twice (fall back) runs at its first showing only.
 */

export interface ScheduleTiming {
  cron?: string | undefined;
  /** An ISO instant with its offset: a one-off run. */
  at?: string | undefined;
}

function cronOf(pattern: string, zone: string): Cron {
  // Five fields only: a minute is the finest a marketer schedules, and a run scans every contact of the workspace.
  return new Cron(pattern, { timezone: zone, mode: '5-part', paused: true });
}

/** Why `pattern` is not a cron croner runs (five fields), or null when it is. */
export function cronProblem(pattern: string): string | null {
  try {
    cronOf(pattern, 'UTC').nextRun(new Date());
    return null;
  } catch (error) {
    return (error as Error).message.replace(/^CronPattern: /, '');
  }
}

/**
 * The first occurrence strictly after `after`: the cron's next tick in `zone`, or the one-off instant while it is
 * still ahead. Null when nothing is left (a one-off that has run, a cron that never fires again).
 */
export function nextOccurrence(timing: ScheduleTiming, zone: string, after: Date): Date | null {
  if (timing.at !== undefined) {
    const at = new Date(timing.at);
    return at.getTime() > after.getTime() ? at : null;
  }
  if (timing.cron === undefined) return null;
  return cronOf(timing.cron, zone).nextRun(after);
}

/** The first occurrence a newly published schedule runs: a one-off instant already past runs at once, not never. */
export function firstOccurrence(timing: ScheduleTiming, zone: string, now: Date): Date | null {
  if (timing.at !== undefined) return new Date(timing.at);
  return nextOccurrence(timing, zone, now);
}
