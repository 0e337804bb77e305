import type { TrackingEvent } from '@tributary/contracts';
import { trackingEventFixture } from '@tributary/testing';
import { emailMatch, normalizeEmail, planIdentity, refForId, traitsEmail } from './identity-rules';

function event(partial: Partial<TrackingEvent>): TrackingEvent {
  return trackingEventFixture({ metadata: { eventId: 'e', workspaceId: 'ws' }, messageId: 'm', ...partial });
}

const keep = { stripPlusAddressing: false };
const strip = { stripPlusAddressing: true };

describe('normalizeEmail', () => {
  it('trims and lower-cases', () => {
    expect(normalizeEmail('  Ada.Lovelace@Example.COM ', keep)).toBe('ada.lovelace@example.com');
  });

  it('strips the +tag only when configured', () => {
    expect(normalizeEmail('Ada+News@example.com', keep)).toBe('ada+news@example.com');
    expect(normalizeEmail('Ada+News@example.com', strip)).toBe('ada@example.com');
    expect(normalizeEmail('+only@example.com', strip)).toBe('+only@example.com');
  });

  it('refuses what is not an address', () => {
    for (const raw of [null, 42, '', '   ', 'ada', '@example.com', 'ada@', 'a da@example.com'])
      expect(normalizeEmail(raw, keep)).toBeNull();
  });
});

describe('traitsEmail', () => {
  it('reads traits.email and tolerates missing or malformed traits', () => {
    expect(traitsEmail('{"email":"a@b.c","name":"A"}')).toBe('a@b.c');
    expect(traitsEmail(null)).toBeNull();
    expect(traitsEmail('not json')).toBeNull();
    expect(traitsEmail('[1]')).toBeNull();
    expect(traitsEmail('{}')).toBeUndefined();
  });
});

describe('planIdentity', () => {
  it('plain events are about the userId, else the anonymousId, and merge nothing', () => {
    expect(planIdentity(event({ anonymousId: 'a1', userId: 'u1' }), keep)).toEqual({
      workspaceId: 'ws',
      subject: { keys: ['ws:user:u1'], fallbackContactId: 'ws:u1' },
      merges: [],
      emailKey: null,
    });
    expect(planIdentity(event({ anonymousId: 'a1', callType: 'page' }), keep).subject).toEqual({
      keys: ['ws:anon:a1'],
      fallbackContactId: 'ws:a1',
    });
  });

  it('identify with both ids merges the anonymous contact into the user, and matches on the email', () => {
    const plan = planIdentity(
      event({
        callType: 'identify',
        anonymousId: 'a1',
        userId: 'u1',
        traitsJson: '{"email":" Ada+x@Ex.com"}',
      }),
      strip,
    );
    expect(plan.merges).toEqual([
      { from: { keys: ['ws:anon:a1'], fallbackContactId: 'ws:a1' }, reason: 'identify' },
    ]);
    expect(plan.emailKey).toBe('ws:email:ada@ex.com');
  });

  it('identify with only a userId merges nothing; anonymousId equal to userId is no merge', () => {
    expect(planIdentity(event({ callType: 'identify', userId: 'u1' }), keep).merges).toEqual([]);
    expect(
      planIdentity(event({ callType: 'identify', userId: 'u1', anonymousId: 'u1' }), keep).merges,
    ).toEqual([]);
  });

  it('alias merges previousId (a user or an anonymous id) into userId', () => {
    const plan = planIdentity(event({ callType: 'alias', userId: 'u2', previousId: 'u1' }), keep);
    expect(plan.subject.fallbackContactId).toBe('ws:u2');
    expect(plan.merges).toEqual([{ from: refForId('ws', 'u1'), reason: 'alias' }]);
    expect(refForId('ws', 'u1')).toEqual({ keys: ['ws:user:u1', 'ws:anon:u1'], fallbackContactId: 'ws:u1' });
  });

  it('ignores emails outside identify calls', () => {
    expect(planIdentity(event({ userId: 'u1', traitsJson: '{"email":"a@b.c"}' }), keep).emailKey).toBeNull();
  });
});

describe('emailMatch', () => {
  it('claims an unowned email, keeps an owned one, and folds a newcomer into the first owner', () => {
    expect(emailMatch(null, 'ws:u2')).toEqual({ action: 'claim' });
    expect(emailMatch('ws:u2', 'ws:u2')).toEqual({ action: 'none' });
    expect(emailMatch('ws:u1', 'ws:u2')).toEqual({ action: 'merge', survivor: 'ws:u1', merged: 'ws:u2' });
  });
});
