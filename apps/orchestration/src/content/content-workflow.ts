/**
 * The content publishing workflow as pure decisions: which status change a command may make (and who may make
 * it), and how each destination moves while an item is published or unpublished. No I/O: ContentItems and
 * ContentPublisher do the reads and writes around these.
 */

export const CONTENT_KINDS = ['email_template', 'landing_page', 'blog_post', 'social_post'] as const;
export type ContentKind = (typeof CONTENT_KINDS)[number];

/** Where content goes, in publishing order: the CMS first, so social posts and newsletters can link to it. */
export const DESTINATION_NAMES = ['cms', 'social', 'newsletter'] as const;
export type DestinationName = (typeof DESTINATION_NAMES)[number];

/** The destinations each kind may go to. */
export const DESTINATIONS_BY_KIND: Record<ContentKind, readonly DestinationName[]> = {
  blog_post: ['cms', 'social', 'newsletter'],
  landing_page: ['cms'],
  email_template: ['newsletter'],
  social_post: ['social'],
};

/** Where an item goes when it names none. */
export const DEFAULT_DESTINATIONS: Record<ContentKind, readonly DestinationName[]> = {
  blog_post: ['cms'],
  landing_page: ['cms'],
  email_template: ['newsletter'],
  social_post: ['social'],
};

export const CONTENT_STATUSES = [
  'draft',
  'in_review',
  'changes_requested',
  'approved',
  'scheduled',
  'publishing',
  'published',
  'publish_failed',
  'unpublishing',
  'unpublished',
  'unpublish_failed',
] as const;
export type ContentStatus = (typeof CONTENT_STATUSES)[number];

/** What a person asks of an item through the API. */
export type ContentCommand =
  | { type: 'edit' }
  | { type: 'submit' }
  | { type: 'approve' }
  | { type: 'request_changes' }
  | { type: 'schedule' }
  | { type: 'publish' }
  | { type: 'unpublish' };

/** What a step is called on content.events and in the audit log. */
export type ContentAction =
  | 'created'
  | 'edited'
  | 'submitted'
  | 'approved'
  | 'changes_requested'
  | 'commented'
  | 'scheduled'
  | 'publishing'
  | 'destination_published'
  | 'destination_failed'
  | 'destination_removed'
  | 'published'
  | 'publish_failed'
  | 'unpublishing'
  | 'unpublished'
  | 'unpublish_failed';

interface Transition {
  from: readonly ContentStatus[];
  to: ContentStatus;
  action: ContentAction;
  /** Says why the command does not fit the current status. */
  refusal: (status: ContentStatus) => string;
}

const TRANSITIONS: Record<ContentCommand['type'], Transition> = {
  // An edit drops any approval and schedule: approval is of a version, and this is a new one.
  edit: {
    from: ['draft', 'changes_requested', 'approved', 'scheduled', 'unpublished'],
    to: 'draft',
    action: 'edited',
    refusal: (status) =>
      status === 'in_review'
        ? 'content in review cannot be edited: ask for changes first'
        : `content that is ${status} cannot be edited: unpublish it first`,
  },
  submit: {
    from: ['draft', 'changes_requested'],
    to: 'in_review',
    action: 'submitted',
    refusal: (status) => `only a draft or content with changes requested can be submitted (it is ${status})`,
  },
  approve: {
    from: ['in_review'],
    to: 'approved',
    action: 'approved',
    refusal: (status) => `only content in review can be approved (it is ${status})`,
  },
  request_changes: {
    from: ['in_review'],
    to: 'changes_requested',
    action: 'changes_requested',
    refusal: (status) => `only content in review can be sent back (it is ${status})`,
  },
  schedule: {
    from: ['approved', 'scheduled'],
    to: 'scheduled',
    action: 'scheduled',
    refusal: (status) => `only approved content can be scheduled (it is ${status})`,
  },
  publish: {
    from: ['approved', 'scheduled', 'publish_failed'],
    to: 'publishing',
    action: 'publishing',
    refusal: (status) =>
      status === 'publishing'
        ? 'the content is being published already'
        : `only approved, scheduled or partly published content can be published (it is ${status})`,
  },
  unpublish: {
    from: ['published', 'publish_failed', 'unpublish_failed'],
    to: 'unpublishing',
    action: 'unpublishing',
    refusal: (status) =>
      status === 'unpublishing'
        ? 'the content is being unpublished already'
        : `only published content can be unpublished (it is ${status})`,
  },
};

/** What decide() knows of the item and the caller. */
export interface CommandFacts {
  status: ContentStatus;
  /** Credential ids of everyone who wrote a version of the item. */
  authors: readonly string[];
  /** The calling credential. */
  actor: string;
}

export type Decision =
  | { ok: true; from: ContentStatus; status: ContentStatus; action: ContentAction }
  | { ok: false; refusal: 'conflict' | 'forbidden'; reason: string };

/**
 * Whether `command` may move the item on, and to what. A status that does not allow the command is a conflict; an
 * approval by anyone who wrote a version of the item is forbidden, whatever their scopes (four eyes).
 */
export function decide(facts: CommandFacts, command: ContentCommand): Decision {
  const transition = TRANSITIONS[command.type];
  if (!transition.from.includes(facts.status))
    return { ok: false, refusal: 'conflict', reason: transition.refusal(facts.status) };
  if (command.type === 'approve' && facts.authors.includes(facts.actor))
    return {
      ok: false,
      refusal: 'forbidden',
      reason: 'you wrote a version of this content: someone who did not write it must approve it',
    };
  return { ok: true, from: facts.status, status: transition.to, action: transition.action };
}

/** The statuses a command is accepted in (for API documentation and tests). */
export function acceptedIn(command: ContentCommand['type']): readonly ContentStatus[] {
  return TRANSITIONS[command].from;
}

/** The destinations `kind` may not go to among `wanted`. */
export function unsupportedDestinations(
  kind: ContentKind,
  wanted: readonly DestinationName[],
): DestinationName[] {
  return wanted.filter((name) => !DESTINATIONS_BY_KIND[kind].includes(name));
}

// ---------------------------------------------------------------------------------------------------------------
// Destinations

/**
 * - pending / removing: to be published to / removed from, now or at `nextAttemptAt`;
 * - published / removed: done (`remoteId` says where);
 * - failed: gave up (a refusal that retrying cannot fix, or out of attempts): `lastError` says why;
 * - kept: cannot be taken back (a sent newsletter) and stays as it is.
 */
export type DestinationStatus = 'pending' | 'published' | 'removing' | 'removed' | 'failed' | 'kept';

/** Where one item stands at one destination. `remoteId` outlives an unpublish, so a republish updates in place. */
export interface DestinationState {
  name: DestinationName;
  status: DestinationStatus;
  remoteId: string | null;
  remoteUrl: string | null;
  /** Rounds of calls for the current goal (each round retries in-call first). */
  attempts: number;
  lastError: string | null;
  nextAttemptAt: Date | null;
  /** The item version the destination shows, once published. */
  publishedVersion: number | null;
  /** What else the destination reported (e.g. a newsletter's recipient counts). */
  note: string | null;
}

export type Goal = 'publish' | 'unpublish';

/** What one round of calls to a destination came to. */
export type DestinationOutcome =
  | { ok: true; remoteId: string | null; remoteUrl: string | null; note?: string }
  | { ok: false; retryable: boolean; retryAfterMs?: number; reason: string };

export interface RetryPolicy {
  /** Rounds a destination gets for one goal before it is marked failed. */
  maxAttempts: number;
  /** Backoff after the first failed round; doubles each round. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export function freshDestination(name: DestinationName): DestinationState {
  return {
    name,
    status: 'pending',
    remoteId: null,
    remoteUrl: null,
    attempts: 0,
    lastError: null,
    nextAttemptAt: null,
    publishedVersion: null,
    note: null,
  };
}

/**
 * The destinations to publish `version` to: each one not already showing that version is pending again (failed
 * ones retried, removed ones republished); one showing it stays published, so a retry never republishes it.
 */
export function startPublishing(
  destinations: readonly DestinationState[],
  version: number,
): DestinationState[] {
  return destinations.map((d) =>
    d.status === 'published' && d.publishedVersion === version
      ? d
      : { ...d, status: 'pending', attempts: 0, lastError: null, nextAttemptAt: null, note: null },
  );
}

/**
 * The destinations to take the item off: whatever may be live is removing; a sent newsletter is kept (email
 * cannot be recalled); a destination it never reached has nothing to remove.
 */
export function startUnpublishing(destinations: readonly DestinationState[]): DestinationState[] {
  return destinations.map((d): DestinationState => {
    if (d.name === 'newsletter')
      return d.status === 'published' || d.status === 'kept'
        ? { ...d, status: 'kept', note: d.note ?? 'sent emails cannot be recalled', nextAttemptAt: null }
        : { ...d, status: 'removed', nextAttemptAt: null };
    if (d.status === 'removed' || d.remoteId === null)
      return { ...d, status: 'removed', nextAttemptAt: null };
    return { ...d, status: 'removing', attempts: 0, lastError: null, nextAttemptAt: null };
  });
}

/** The destination social posts and newsletters wait for while publishing (they link to its copy), if pending. */
function pendingCms(destinations: readonly DestinationState[], goal: Goal): DestinationState | undefined {
  const cms = destinations.find((d) => d.name === 'cms');
  return goal === 'publish' && cms?.status === 'pending' ? cms : undefined;
}

/**
 * The destinations to call now, in publishing order (unpublishing goes in the same order). While the CMS copy is
 * still on its way, the others wait for it: their posts and emails link to it.
 */
export function dueDestinations(
  destinations: readonly DestinationState[],
  goal: Goal,
  now: Date,
): DestinationName[] {
  const working: DestinationStatus = goal === 'publish' ? 'pending' : 'removing';
  const due = (d: DestinationState) =>
    d.status === working && (d.nextAttemptAt === null || d.nextAttemptAt.getTime() <= now.getTime());
  const cms = pendingCms(destinations, goal);
  if (cms) return due(cms) ? ['cms'] : [];
  return DESTINATION_NAMES.filter((name) => destinations.some((d) => d.name === name && due(d)));
}

/**
 * A destination after a round of calls: done; or, refused for now, tried again after the provider's Retry-After or
 * an exponential backoff (whichever is longer) plus up to 20 % jitter, so destinations and replicas do not retry in
 * step; or failed, when retrying cannot help or the rounds are spent.
 */
export function afterAttempt(
  state: DestinationState,
  outcome: DestinationOutcome,
  goal: Goal,
  version: number,
  now: Date,
  policy: RetryPolicy,
  random: () => number = Math.random,
): DestinationState {
  const attempts = state.attempts + 1;
  if (outcome.ok)
    return goal === 'publish'
      ? {
          ...state,
          status: 'published',
          remoteId: outcome.remoteId,
          remoteUrl: outcome.remoteUrl,
          attempts,
          lastError: null,
          nextAttemptAt: null,
          publishedVersion: version,
          note: outcome.note ?? null,
        }
      : {
          ...state,
          status: 'removed',
          attempts,
          lastError: null,
          nextAttemptAt: null,
          note: outcome.note ?? null,
        };
  if (!outcome.retryable || attempts >= policy.maxAttempts)
    return {
      ...state,
      status: 'failed',
      attempts,
      lastError: outcome.retryable
        ? `${outcome.reason} (gave up after ${attempts} attempts)`
        : outcome.reason,
      nextAttemptAt: null,
    };
  return {
    ...state,
    attempts,
    lastError: outcome.reason,
    nextAttemptAt: new Date(now.getTime() + retryDelayMs(attempts, outcome.retryAfterMs, policy, random)),
  };
}

/** Wait before the round after `attempts` failed ones: max(Retry-After, base × 2^(n-1), capped) + 0–20 % jitter. */
export function retryDelayMs(
  attempts: number,
  retryAfterMs: number | undefined,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempts - 1));
  const delay = Math.max(retryAfterMs ?? 0, backoff);
  return Math.round(delay + delay * 0.2 * random());
}

export interface Settlement {
  status: ContentStatus;
  /** When the next round is due; null when the item is settled. */
  wakeAt: Date | null;
}

/**
 * Where an item stands after a round: still publishing (or unpublishing) while a destination waits for its next
 * round (`wakeAt`: the earliest one that can go then; epoch 0 = now); published (unpublished) when every destination got there; publish_failed (unpublish_failed) when one gave
 * up. A kept newsletter counts as unpublished: nothing more can be done there.
 */
export function settle(destinations: readonly DestinationState[], goal: Goal): Settlement {
  const working: DestinationStatus = goal === 'publish' ? 'pending' : 'removing';
  const cms = pendingCms(destinations, goal);
  const waiting = cms ? [cms] : destinations.filter((d) => d.status === working);
  if (waiting.length > 0) {
    const next = Math.min(...waiting.map((d) => d.nextAttemptAt?.getTime() ?? 0));
    return { status: goal === 'publish' ? 'publishing' : 'unpublishing', wakeAt: new Date(next) };
  }
  const failed = destinations.some((d) => d.status === 'failed');
  if (goal === 'publish') return { status: failed ? 'publish_failed' : 'published', wakeAt: null };
  return { status: failed ? 'unpublish_failed' : 'unpublished', wakeAt: null };
}
