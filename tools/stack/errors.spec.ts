import { StackError, describeFailure } from './errors';

describe('StackError', () => {
  it('keeps each detail once when more lines are added (the message already holds the details)', () => {
    const failed = new StackError('PostgreSQL exited during startup; log: x.log (last 20 lines below)', [
      '  | FATAL:  could not open file',
    ]);
    const more = failed.withDetails(['(still running: kafka; ...)']);
    expect(more.message).toBe(
      [
        'PostgreSQL exited during startup; log: x.log (last 20 lines below)',
        '  | FATAL:  could not open file',
        '(still running: kafka; ...)',
      ].join('\n'),
    );
    expect(more.summary).toBe(failed.summary);
  });
});

describe('describeFailure (what npm test, npm start and the stack CLI print when they give up)', () => {
  it("prints a StackError's reasons, not only its headline", () => {
    const error = new StackError('cannot start the stack:', [
      '  - PostgreSQL runs as the postgres user, who cannot enter /root',
    ]);
    expect(describeFailure(error)).toBe(
      'cannot start the stack:\n  - PostgreSQL runs as the postgres user, who cannot enter /root',
    );
  });

  it('prints where any other error came from, and never an empty line', () => {
    expect(describeFailure(new TypeError('x is undefined'))).toMatch(
      /^TypeError: x is undefined\n\s+at .*errors\.spec\.ts/,
    );
    const bare = new Error();
    bare.stack = '';
    expect(describeFailure(bare)).toBe('Error');
    expect(describeFailure('plain')).toBe('plain');
    expect(describeFailure('')).toBe('unknown error');
  });
});
