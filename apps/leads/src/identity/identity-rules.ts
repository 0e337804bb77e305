import type { ContactsMerged, TrackingEvent } from '@tributary/contracts';

/** Why two contacts became one, as carried on `contacts.merged`. */
export type MergeReason = ContactsMerged['reason'];

/** Workspace-level identity settings (from the lead service's configuration). */
export interface IdentityOptions {
  /** Treat `ada+news@example.com` as `ada@example.com` (off by default: some providers give `+` no meaning). */
  stripPlusAddressing: boolean;
}

/** An id an event names: the identity-index keys to try in order, and its contact when no key is indexed. */
export interface IdentityRef {
  keys: string[];
  fallbackContactId: string;
}

/** What identity resolution has to do for one event, before it is scored. */
export interface IdentityPlan {
  workspaceId: string;
  /** Whose contact the event is about before merges: userId, else anonymousId (as `contactIdOf`). */
  subject: IdentityRef;
  /** Ids whose contacts fold into the subject's contact, in order. */
  merges: { from: IdentityRef; reason: MergeReason }[];
  /** Identity key of the normalised email from identify traits, matched after the merges. */
  emailKey: string | null;
}

/** Identity-index key: workspace-scoped so the same id in two workspaces never meets. */
export function identityKey(
  workspaceId: string,
  kind: 'anon' | 'user' | 'email' | 'ext',
  id: string,
): string {
  return `${workspaceId}:${kind}:${id}`;
}

/** The contact an id has when it was never merged: the same id scheme as `contactIdOf`. */
export function defaultContactId(workspaceId: string, id: string): string {
  return `${workspaceId}:${id}`;
}

/** An id looked up from outside an event (the contacts API): a userId first, else an anonymousId. */
export function refForId(workspaceId: string, id: string): IdentityRef {
  return {
    keys: [identityKey(workspaceId, 'user', id), identityKey(workspaceId, 'anon', id)],
    fallbackContactId: defaultContactId(workspaceId, id),
  };
}

/** Trim + lower-case, optionally without the `+tag`; null when it is not an address worth matching on. */
export function normalizeEmail(raw: unknown, options: IdentityOptions): string | null {
  if (typeof raw !== 'string') return null;
  const email = raw.trim().toLowerCase();
  const at = email.lastIndexOf('@');
  if (at <= 0 || at === email.length - 1 || /\s/.test(email)) return null;
  let local = email.slice(0, at);
  const plus = local.indexOf('+');
  // A local part that is only a tag ("+x@") is kept whole rather than matched as an empty mailbox.
  if (options.stripPlusAddressing && plus > 0) local = local.slice(0, plus);
  return `${local}@${email.slice(at + 1)}`;
}

/** `traits.email` of an identify call, or null when traits are missing or not a JSON object. */
export function traitsEmail(traitsJson: string | null): unknown {
  if (!traitsJson) return null;
  try {
    const traits: unknown = JSON.parse(traitsJson);
    return typeof traits === 'object' && traits !== null && !Array.isArray(traits)
      ? (traits as Record<string, unknown>)['email']
      : null;
  } catch {
    return null;
  }
}

/** Which identity links an event asserts (Segment semantics): identify anon→user, alias previousId→userId, email. */
export function planIdentity(event: TrackingEvent, options: IdentityOptions): IdentityPlan {
  const ws = event.metadata.workspaceId;
  const { userId, anonymousId, previousId } = event;
  const subject: IdentityRef = userId
    ? { keys: [identityKey(ws, 'user', userId)], fallbackContactId: defaultContactId(ws, userId) }
    : anonymousId
      ? { keys: [identityKey(ws, 'anon', anonymousId)], fallbackContactId: defaultContactId(ws, anonymousId) }
      : { keys: [], fallbackContactId: defaultContactId(ws, event.messageId) };
  const merges: IdentityPlan['merges'] = [];
  if (event.callType === 'identify' && userId && anonymousId && anonymousId !== userId)
    merges.push({
      from: {
        keys: [identityKey(ws, 'anon', anonymousId)],
        fallbackContactId: defaultContactId(ws, anonymousId),
      },
      reason: 'identify',
    });
  // previousId may be an earlier userId or an anonymousId: the spec does not say which.
  if (event.callType === 'alias' && userId && previousId && previousId !== userId)
    merges.push({ from: refForId(ws, previousId), reason: 'alias' });
  const email = event.callType === 'identify' ? normalizeEmail(traitsEmail(event.traitsJson), options) : null;
  return { workspaceId: ws, subject, merges, emailKey: email ? identityKey(ws, 'email', email) : null };
}

/**
 * What an email match means for the event's contact: claim an unowned email, nothing when it already owns it,
 * or fold into the contact that owned it first (the longest-known record survives, so its id stays stable).
 */
export function emailMatch(
  ownerContactId: string | null,
  subjectContactId: string,
): { action: 'claim' } | { action: 'none' } | { action: 'merge'; survivor: string; merged: string } {
  if (ownerContactId === null) return { action: 'claim' };
  if (ownerContactId === subjectContactId) return { action: 'none' };
  return { action: 'merge', survivor: ownerContactId, merged: subjectContactId };
}
