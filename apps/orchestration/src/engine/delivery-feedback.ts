import type { MessageDelivery } from '@tributary/contracts';
import type { Channel } from './send-policy';

/**
 * What a provider's delivery feedback changes for the engine: the address goes on the workspace's suppression list
 * (a hard bounce, a spam report, an unsubscribe, STOP), a STOP is lifted (START), and the message's delivery state
 * moves on. Pure: DeliveryFeedback does the store writes.
 */
export interface FeedbackEffects {
  /** Put the address on the channel's suppression list with this reason (the first reason of an address stays). */
  suppress?: { channel: Channel; reason: SuppressionReason };
  /** Take the address off the channel's list, if (and only if) it is there for this reason. */
  lift?: { channel: Channel; reason: SuppressionReason };
  /** The message's new delivery state, unless it already holds one of this rank or higher. */
  status?: { status: string; rank: number };
  /** Remember when this kind of feedback about the message first came (opened, clicked …). */
  seen?: string;
}

/** The reasons MessageSender knows: bounce and spamreport stop every message, the others marketing. */
export type SuppressionReason = 'bounce' | 'spamreport' | 'unsubscribe' | 'sms-stop';

/**
 * Delivery states by how far a message got: a bounce after a delivered (an asynchronous bounce) still counts, a
 * late `sent` or `deferred` after `delivered` does not move it back.
 */
const STATUS_RANKS: Readonly<Record<string, number>> = {
  processed: 1,
  sms_sent: 1,
  deferred: 2,
  blocked: 2,
  delivered: 3,
  sms_delivered: 3,
  bounced: 4,
  dropped: 4,
  sms_undelivered: 4,
  sms_failed: 4,
};

const KNOWN_EVENTS = new Set([
  ...Object.keys(STATUS_RANKS),
  'opened',
  'clicked',
  'spam_report',
  'unsubscribed',
  'sms_read',
  'sms_stop',
  'sms_start',
  'sms_help',
  'sms_received',
]);

/** A drop of an address SendGrid will keep dropping suppresses it for the reason SendGrid gives. */
function dropReason(reason: string | null): SuppressionReason {
  const text = (reason ?? '').toLowerCase();
  if (text.includes('spam')) return 'spamreport';
  if (text.includes('unsubscribe')) return 'unsubscribe';
  return 'bounce';
}

function suppressionFor(
  delivery: Pick<MessageDelivery, 'event' | 'permanent' | 'reason'>,
): SuppressionReason | undefined {
  switch (delivery.event) {
    case 'bounced':
      return 'bounce';
    case 'dropped':
      return delivery.permanent ? dropReason(delivery.reason) : undefined;
    case 'spam_report':
      return 'spamreport';
    case 'unsubscribed':
      return 'unsubscribe';
    case 'sms_stop':
      return 'sms-stop';
    // A number that can never take a text (unknown, landline) bounces; one that opted out at the carrier stopped.
    case 'sms_undelivered':
    case 'sms_failed':
      if (!delivery.permanent) return undefined;
      return (delivery.reason ?? '').includes('21610') ? 'sms-stop' : 'bounce';
    default:
      return undefined;
  }
}

/** The effects of one delivery fact; an event this build does not know changes nothing. */
export function feedbackEffects(
  delivery: Pick<MessageDelivery, 'event' | 'channel' | 'permanent' | 'reason'>,
): FeedbackEffects {
  const channel = delivery.channel;
  if ((channel !== 'email' && channel !== 'sms') || !KNOWN_EVENTS.has(delivery.event)) return {};
  const reason = suppressionFor(delivery);
  const rank = STATUS_RANKS[delivery.event];
  return {
    ...(reason ? { suppress: { channel, reason } } : {}),
    ...(delivery.event === 'sms_start' ? { lift: { channel, reason: 'sms-stop' as const } } : {}),
    ...(rank === undefined ? {} : { status: { status: delivery.event, rank } }),
    seen: delivery.event,
  };
}
