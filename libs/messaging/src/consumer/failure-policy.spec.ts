import { UndecodableMessageError } from '../schema-registry';
import { backoffDelay, decideOnFailure, PoisonMessageError, type RetrySettings } from './failure-policy';

const settings: RetrySettings = { maxAttempts: 4, initialDelayMs: 100, maxDelayMs: 1_000 };

describe('decideOnFailure (DLQ routing decision)', () => {
  it('dead-letters undecodable bytes on the first attempt, without retrying', () => {
    expect(decideOnFailure(new UndecodableMessageError('bad magic byte'), 1, settings)).toEqual({
      action: 'dead-letter',
      errorType: 'decode',
    });
  });

  it('dead-letters a poison message on the first attempt', () => {
    expect(decideOnFailure(new PoisonMessageError('negative score'), 1, settings)).toEqual({
      action: 'dead-letter',
      errorType: 'poison',
    });
  });

  it('dead-letters data the store refuses as such (NUL in text or a key, a key over its size) as poison, at once', () => {
    // What FerretDB answers when PostgreSQL refuses a NUL in jsonb, and what the driver throws for a NUL in a key.
    const nulInText = Object.assign(
      new Error(
        '[msg_insert.go:168 handler.(*Handler).MsgInsert] ERROR: unsupported Unicode escape sequence (SQLSTATE 22P05)',
      ),
      { name: 'MongoServerError', code: 1 },
    );
    const nulInKey = Object.assign(new Error('key k\u0000 must not contain null bytes'), {
      name: 'BSONError',
    });
    const keyTooLong = Object.assign(
      new Error('ERROR: index row size 2824 exceeds btree version 4 maximum 2704 (SQLSTATE 54000)'),
      { name: 'MongoServerError', code: 1 },
    );
    for (const refused of [nulInText, nulInKey, keyTooLong]) {
      expect(decideOnFailure(refused, 1, settings)).toEqual({ action: 'dead-letter', errorType: 'poison' });
    }
    // Any other server error is still presumed transient.
    const busy = Object.assign(new Error('ERROR: deadlock detected (SQLSTATE 40P01)'), {
      name: 'MongoServerError',
      code: 1,
    });
    expect(decideOnFailure(busy, 1, settings, () => 0.5).action).toBe('retry');
  });

  it('pauses instead of dead-lettering when the store is unreachable, whatever the attempt', () => {
    const down = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:27017'), {
      name: 'MongoNetworkError',
    });
    expect(decideOnFailure(down, 1, settings)).toEqual({ action: 'pause' });
    expect(decideOnFailure(down, 99, settings)).toEqual({ action: 'pause' });
  });

  it('retries other errors until maxAttempts, then dead-letters them as handler errors', () => {
    const flaky = new Error('CRM answered 503');
    for (let attempt = 1; attempt < settings.maxAttempts; attempt++) {
      expect(decideOnFailure(flaky, attempt, settings, () => 0.5).action).toBe('retry');
    }
    expect(decideOnFailure(flaky, settings.maxAttempts, settings)).toEqual({
      action: 'dead-letter',
      errorType: 'handler',
    });
  });
});

describe('backoffDelay (retry policy)', () => {
  it('doubles the ceiling each attempt (full jitter at random=1)', () => {
    expect([1, 2, 3, 4].map((attempt) => backoffDelay(attempt, settings, () => 1))).toEqual([
      100, 200, 400, 800,
    ]);
  });

  it('never exceeds maxDelayMs', () => {
    expect(backoffDelay(20, settings, () => 1)).toBe(1_000);
  });

  it('spreads retries with jitter and never waits 0 ms', () => {
    expect(backoffDelay(3, settings, () => 0.25)).toBe(100);
    expect(backoffDelay(3, settings, () => 0)).toBe(1);
  });
});
