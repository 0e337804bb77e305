import { feedbackEffects } from './delivery-feedback';

const fact = (event: string, extra: { channel?: string; permanent?: boolean; reason?: string | null } = {}) =>
  feedbackEffects({
    event,
    channel: extra.channel ?? (event.startsWith('sms_') ? 'sms' : 'email'),
    permanent: extra.permanent ?? false,
    reason: extra.reason ?? null,
  });

describe('what delivery feedback changes', () => {
  it('a hard bounce, a spam report and an unsubscribe put the email address on the list, with SendGrid’s reason', () => {
    expect(fact('bounced', { permanent: true }).suppress).toEqual({ channel: 'email', reason: 'bounce' });
    expect(fact('spam_report').suppress).toEqual({ channel: 'email', reason: 'spamreport' });
    expect(fact('unsubscribed').suppress).toEqual({ channel: 'email', reason: 'unsubscribe' });
  });

  it('a drop suppresses only when SendGrid dropped the address itself, for the reason it names', () => {
    expect(fact('dropped', { permanent: false, reason: 'Spam Content' }).suppress).toBeUndefined();
    expect(fact('dropped', { permanent: true, reason: 'Bounced Address' }).suppress?.reason).toBe('bounce');
    expect(fact('dropped', { permanent: true, reason: 'Invalid' }).suppress?.reason).toBe('bounce');
    expect(fact('dropped', { permanent: true, reason: 'Spam Reporting Address' }).suppress?.reason).toBe(
      'spamreport',
    );
    expect(fact('dropped', { permanent: true, reason: 'Unsubscribed Address' }).suppress?.reason).toBe(
      'unsubscribe',
    );
  });

  it('STOP suppresses the phone for SMS; START lifts only a STOP', () => {
    expect(fact('sms_stop')).toMatchObject({ suppress: { channel: 'sms', reason: 'sms-stop' } });
    const start = fact('sms_start');
    expect(start.lift).toEqual({ channel: 'sms', reason: 'sms-stop' });
    expect(start.suppress).toBeUndefined();
  });

  it('a text that can never arrive suppresses the number; one that failed for now does not', () => {
    expect(fact('sms_undelivered', { reason: 'twilio error 30003' }).suppress).toBeUndefined();
    expect(fact('sms_failed', { permanent: true, reason: 'twilio error 30006' }).suppress).toEqual({
      channel: 'sms',
      reason: 'bounce',
    });
    expect(fact('sms_failed', { permanent: true, reason: 'twilio error 21610' }).suppress?.reason).toBe(
      'sms-stop',
    );
  });

  it('delivery, a soft block, a deferral, opens and clicks suppress nothing', () => {
    for (const event of [
      'processed',
      'delivered',
      'deferred',
      'blocked',
      'opened',
      'clicked',
      'sms_sent',
      'sms_delivered',
      'sms_read',
      'sms_help',
      'sms_received',
    ])
      expect(fact(event).suppress).toBeUndefined();
  });

  it('ranks delivery states so that a late report cannot move a message back', () => {
    const rank = (event: string) => fact(event).status?.rank ?? 0;
    expect(rank('processed')).toBeLessThan(rank('deferred'));
    expect(rank('deferred')).toBeLessThan(rank('delivered'));
    // SendGrid may report a bounce after delivered (the receiving server bounced later): it wins.
    expect(rank('delivered')).toBeLessThan(rank('bounced'));
    expect(rank('sms_sent')).toBeLessThan(rank('sms_delivered'));
    expect(rank('sms_delivered')).toBeLessThan(rank('sms_undelivered'));
    // Engagement is remembered, not a delivery state.
    expect(fact('opened')).toEqual({ seen: 'opened' });
  });

  it('an event or channel this build does not know changes nothing', () => {
    expect(fact('teleported')).toEqual({});
    expect(fact('delivered', { channel: 'carrier-pigeon' })).toEqual({});
  });
});
