/**
 * Lifecycle stages of a contact and the moves between them. Pure: the pipeline asks `planMove` and then applies the
 * answer with a conditional write (stage still `from`), so two deliveries of one cause move a contact once.
 */
export const LIFECYCLE_STAGES = ['subscriber', 'lead', 'mql', 'sql', 'opportunity', 'customer'] as const;
export type FunnelStage = (typeof LIFECYCLE_STAGES)[number];
export type LifecycleStage = FunnelStage | 'disqualified';

/** What asks for a move; automatic causes only move a contact forward, people may also disqualify and recycle. */
export type LifecycleCause =
  | { kind: 'subscribed' }
  | { kind: 'lead-captured' }
  | { kind: 'score'; score: number; threshold: number }
  | { kind: 'owner-accepted' }
  | { kind: 'crm-stage'; stage: 'opportunity' | 'customer'; source: string }
  | { kind: 'purchase'; source: string }
  | { kind: 'disqualify'; reason: string }
  | { kind: 'recycle'; reason: string };

export interface LifecycleMove {
  from: LifecycleStage | null;
  to: LifecycleStage;
  reason: string;
}

export type LifecycleDecision = { move: LifecycleMove } | { move: null; why: string };

const rank = (stage: FunnelStage): number => LIFECYCLE_STAGES.indexOf(stage);

function forward(from: LifecycleStage | null, to: FunnelStage, reason: string): LifecycleDecision {
  if (from === 'disqualified') return { move: null, why: 'disqualified contacts move only when recycled' };
  if (from !== null && rank(from) >= rank(to)) return { move: null, why: `already at ${from}` };
  return { move: { from, to, reason } };
}

/** The move `cause` asks of a contact at `from` (null: a contact without a stage yet), or why there is none. */
export function planMove(from: LifecycleStage | null, cause: LifecycleCause): LifecycleDecision {
  switch (cause.kind) {
    case 'subscribed':
      return forward(from, 'subscriber', 'subscribed');
    case 'lead-captured':
      return forward(from, 'lead', 'lead-captured');
    case 'score':
      // Only a lead crosses into MQL by score; a subscriber must first be captured as a lead (consent to be sold to).
      if (cause.score < cause.threshold)
        return { move: null, why: `score ${cause.score} below ${cause.threshold}` };
      if (from !== 'lead') return { move: null, why: `score moves only leads, contact is ${from ?? 'new'}` };
      return forward(from, 'mql', 'score-threshold');
    case 'owner-accepted':
      if (from !== 'mql' && from !== 'lead')
        return { move: null, why: `only a lead or MQL can be accepted, contact is ${from ?? 'new'}` };
      return forward(from, 'sql', 'owner-accepted');
    case 'crm-stage':
      return forward(from, cause.stage, `crm-${cause.stage}:${cause.source}`);
    case 'purchase':
      return forward(from, 'customer', `purchase:${cause.source}`);
    case 'disqualify':
      if (from === 'customer' || from === 'disqualified')
        return { move: null, why: `a ${from} cannot be disqualified` };
      return { move: { from, to: 'disqualified', reason: `disqualified:${cause.reason}` } };
    case 'recycle':
      // Back to nurture: a disqualified or stalled MQL/SQL becomes a plain lead again and can re-qualify by score.
      if (from !== 'disqualified' && from !== 'mql' && from !== 'sql')
        return {
          move: null,
          why: `only disqualified, MQL or SQL contacts are recycled, contact is ${from ?? 'new'}`,
        };
      return { move: { from, to: 'lead', reason: `recycled:${cause.reason}` } };
  }
}

/** The stage a cause moves towards, whether or not the contact can make that move. */
export function targetOf(cause: LifecycleCause): LifecycleStage {
  switch (cause.kind) {
    case 'subscribed':
      return 'subscriber';
    case 'lead-captured':
    case 'recycle':
      return 'lead';
    case 'score':
      return 'mql';
    case 'owner-accepted':
      return 'sql';
    case 'crm-stage':
      return cause.stage;
    case 'purchase':
      return 'customer';
    case 'disqualify':
      return 'disqualified';
  }
}

/** Stages at which a lead is worked by sales and so needs an owner. */
export function needsOwner(stage: LifecycleStage | null): boolean {
  return stage === 'lead' || stage === 'mql' || stage === 'sql';
}
