import {
  maskAddress,
  sendGridDeliveries,
  smsKeyword,
  twilioInboundDelivery,
  twilioStatusDelivery,
  type MappedDelivery,
} from './delivery-events';

const ws = 'ws_demo';
const sid = `SM${'0123456789abcdef'.repeat(2)}`;

/** A SendGrid event as its Event Webhook posts one (custom args at the top level). */
const sendGridEvent = (event: string, fields: Record<string, unknown> = {}) => ({
  email: 'Ada@Example.com',
  timestamp: 1_717_236_000,
  'smtp-id': '<14c5d75ce93.dfd.64b469@ismtpd-555>',
  event,
  category: ['marketing', 'journey:welcome'],
  sg_event_id: `sg-${event}-1`,
  sg_message_id: '14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0',
  tributary_message_key: 'ws_demo:welcome:c1:0:hello:1',
  workspace_id: ws,
  ...fields,
});

const mappedOne = (body: unknown[]): MappedDelivery => {
  const result = sendGridDeliveries(body, ws);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  const [only] = result.items;
  if (!only) throw new Error('no item');
  return only;
};
const eventOf = (event: string, fields?: Record<string, unknown>) => {
  const item = mappedOne([sendGridEvent(event, fields)]);
  return item.outcome === 'mapped' ? [item.fact.event, item.fact.permanent] : [item.outcome];
};

describe('SendGrid Event Webhook events', () => {
  it('carry the message key, the provider’s ids, the address as suppressions key it and the provider’s time', () => {
    expect(mappedOne([sendGridEvent('delivered', { response: '250 OK' })])).toEqual({
      index: 0,
      outcome: 'mapped',
      fact: {
        provider: 'sendgrid',
        channel: 'email',
        event: 'delivered',
        providerEvent: 'delivered',
        providerEventId: 'sg-delivered-1',
        providerMessageId: '14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0',
        messageKey: 'ws_demo:welcome:c1:0:hello:1',
        address: 'ada@example.com',
        reason: '250 OK',
        permanent: false,
        occurredAt: 1_717_236_000_000,
      },
    });
  });

  it('name each kind of feedback; a hard bounce is permanent, a blocked one is not', () => {
    expect(eventOf('processed')).toEqual(['processed', false]);
    expect(eventOf('deferred')).toEqual(['deferred', false]);
    expect(eventOf('bounce', { type: 'bounce', reason: '550 5.1.1 no such user' })).toEqual([
      'bounced',
      true,
    ]);
    expect(eventOf('bounce', { type: 'blocked', reason: '421 try later' })).toEqual(['blocked', false]);
    expect(eventOf('open')).toEqual(['opened', false]);
    expect(eventOf('click', { url: 'https://example.com' })).toEqual(['clicked', false]);
    expect(eventOf('spamreport')).toEqual(['spam_report', false]);
    expect(eventOf('unsubscribe')).toEqual(['unsubscribed', false]);
    expect(eventOf('group_unsubscribe', { asm_group_id: 1 })).toEqual(['unsubscribed', false]);
  });

  it('treat a drop as permanent only when SendGrid dropped the address itself', () => {
    expect(eventOf('dropped', { reason: 'Bounced Address' })).toEqual(['dropped', true]);
    expect(eventOf('dropped', { reason: 'Spam Reporting Address' })).toEqual(['dropped', true]);
    expect(eventOf('dropped', { reason: 'Unsubscribed Address' })).toEqual(['dropped', true]);
    expect(eventOf('dropped', { reason: 'Invalid' })).toEqual(['dropped', true]);
    expect(eventOf('dropped', { reason: 'Spam Content (if spam checker app enabled)' })).toEqual([
      'dropped',
      false,
    ]);
    expect(eventOf('dropped', { reason: 'Recipient List over Package Quota' })).toEqual(['dropped', false]);
  });

  it('ignore kinds nothing acts on, and keep a message sent without our custom args as unkeyed', () => {
    expect(mappedOne([sendGridEvent('group_resubscribe')])).toMatchObject({
      outcome: 'ignored',
      providerEvent: 'group_resubscribe',
    });
    const { tributary_message_key: _k, workspace_id: _w, ...bare } = sendGridEvent('delivered');
    expect(mappedOne([bare])).toMatchObject({ outcome: 'mapped', fact: { messageKey: null } });
  });

  it('refuse an event on its own, naming its fields, and map the rest of the batch', () => {
    const result = sendGridDeliveries(
      [
        sendGridEvent('delivered'),
        { event: 'bounce', email: 'not-an-address', timestamp: 'yesterday' },
        'garbage',
        sendGridEvent('open', { workspace_id: 'ws_other' }),
      ],
      ws,
    );
    if (!result.ok) throw new Error('batch refused whole');
    expect(result.items.map((i) => i.outcome)).toEqual(['mapped', 'rejected', 'rejected', 'rejected']);
    const problems = result.items.flatMap((i) =>
      i.outcome === 'rejected' ? i.problems.map((p) => p.field) : [],
    );
    expect(problems).toEqual(['[1].sg_event_id', '[1].email', '[1].timestamp', '[2]', '[3].workspace_id']);
  });

  it('refuse a body that is not a non-empty array of events', () => {
    for (const body of [{}, [], 'x', null])
      expect(sendGridDeliveries(body, ws)).toEqual({
        ok: false,
        problems: [{ field: '(body)', reason: 'must be a JSON array of 1 to 5000 events' }],
      });
  });
});

describe('Twilio status callbacks', () => {
  const callback = (status: string, extra: Record<string, string> = {}) => ({
    AccountSid: `AC${'0'.repeat(32)}`,
    ApiVersion: '2010-04-01',
    MessageSid: sid,
    MessageStatus: status,
    SmsSid: sid,
    SmsStatus: status,
    To: '+4915112345678',
    From: '+15005550006',
    ...extra,
  });

  it('map the final statuses, deduped per message and status, with the key from the callback URL', () => {
    expect(twilioStatusDelivery(callback('delivered'), 'key-1', 42)).toEqual({
      index: null,
      outcome: 'mapped',
      fact: {
        provider: 'twilio',
        channel: 'sms',
        event: 'sms_delivered',
        providerEvent: 'delivered',
        providerEventId: `${sid}:delivered`,
        providerMessageId: sid,
        messageKey: 'key-1',
        address: '+4915112345678',
        reason: null,
        permanent: false,
        occurredAt: 42,
      },
    });
    expect(twilioStatusDelivery(callback('sent'), null, 1)).toMatchObject({ fact: { event: 'sms_sent' } });
    expect(twilioStatusDelivery(callback('read'), null, 1)).toMatchObject({ fact: { event: 'sms_read' } });
    expect(twilioStatusDelivery(callback('queued'), null, 1)).toMatchObject({ outcome: 'ignored' });
  });

  it('carry the error code; unknown numbers and landlines are permanent, an unreachable handset is not', () => {
    expect(twilioStatusDelivery(callback('undelivered', { ErrorCode: '30003' }), null, 1)).toMatchObject({
      fact: { event: 'sms_undelivered', reason: 'twilio error 30003', permanent: false },
    });
    expect(twilioStatusDelivery(callback('failed', { ErrorCode: '30006' }), null, 1)).toMatchObject({
      fact: { event: 'sms_failed', permanent: true },
    });
  });

  it('refuse a callback without a message SID, status or E.164 recipient', () => {
    expect(twilioStatusDelivery({ MessageStatus: 'delivered', To: 'whatsapp:+1' }, null, 1)).toMatchObject({
      outcome: 'rejected',
      problems: [
        { field: 'MessageSid', reason: 'must be a Twilio message SID (SM…)' },
        { field: 'To', reason: 'must be an E.164 phone number' },
      ],
    });
  });
});

describe('Twilio inbound texts', () => {
  const inbound = (body: string, extra: Record<string, string> = {}) => ({
    MessageSid: sid,
    SmsMessageSid: sid,
    AccountSid: `AC${'0'.repeat(32)}`,
    From: '+4915112345678',
    To: '+15005550006',
    Body: body,
    NumMedia: '0',
    ...extra,
  });

  it('turn STOP and its kin into sms_stop, START into sms_start, HELP into sms_help, whatever the case', () => {
    for (const word of ['STOP', 'stop', ' Unsubscribe ', 'cancel', 'END', 'quit', 'StopAll', 'stop.'])
      expect(smsKeyword(word)).toBe('sms_stop');
    for (const word of ['START', 'unstop', 'Yes']) expect(smsKeyword(word)).toBe('sms_start');
    expect(smsKeyword('help')).toBe('sms_help');
    // Only the whole text is a keyword: a sentence that mentions one is a reply.
    expect(smsKeyword('please stop texting me at night')).toBeNull();
    expect(smsKeyword('')).toBeNull();
  });

  it('map the sender’s number, and keep no words of an ordinary reply', () => {
    expect(twilioInboundDelivery(inbound('STOP'), 7)).toEqual({
      index: null,
      outcome: 'mapped',
      fact: {
        provider: 'twilio',
        channel: 'sms',
        event: 'sms_stop',
        providerEvent: 'STOP',
        providerEventId: sid,
        providerMessageId: sid,
        messageKey: null,
        address: '+4915112345678',
        reason: null,
        permanent: false,
        occurredAt: 7,
      },
    });
    const reply = twilioInboundDelivery(inbound('see you at 5, Ada'), 7);
    expect(reply).toMatchObject({ fact: { event: 'sms_received', providerEvent: 'inbound' } });
    expect(JSON.stringify(reply)).not.toContain('see you');
  });

  it('let Twilio’s Advanced Opt-Out decide when it names the keyword it matched', () => {
    expect(twilioInboundDelivery(inbound('Arrêt', { OptOutType: 'STOP' }), 1)).toMatchObject({
      fact: { event: 'sms_stop', providerEvent: 'STOP' },
    });
  });
});

describe('maskAddress', () => {
  it('keeps enough to recognise an address, never the address', () => {
    expect(maskAddress('ada@example.com')).toBe('a***@example.com');
    expect(maskAddress('+4915112345678')).toBe('+49***78');
  });
});
