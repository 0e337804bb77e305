import { Writable } from 'node:stream';
import { createLogger } from './logger';
import { runWithRequestContext } from './request-context';

/** A logger writing into memory, and the JSON lines it wrote. */
function capturingLogger() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger('test', 'info', sink);
  return { logger, lines, records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe('createLogger', () => {
  it('redacts Authorization headers, client secrets and tokens wherever they are logged', () => {
    const { logger, lines } = capturingLogger();
    const secrets = {
      basic: 'Basic dHJpYl9hYmNfc2VjcmV0Og==',
      bearer: 'Bearer eyJhbGciOiJFUzI1NiJ9.payload.signature',
      clientSecret: 'cs_9f8e7d6c5b4a39281706',
      accessToken: 'at_0123456789abcdef',
    };
    logger.info({ req: { headers: { authorization: secrets.basic } } }, 'request');
    logger.info({ headers: { authorization: secrets.bearer } }, 'headers');
    logger.info({ req: { body: { grant_type: 'client_credentials', client_secret: secrets.clientSecret } } });
    logger.info({ client: { clientId: 'client_1', clientSecret: secrets.clientSecret } }, 'client created');
    logger.info({ client_secret: secrets.clientSecret, access_token: secrets.accessToken }, 'token issued');

    const written = lines.join('\n');
    for (const secret of Object.values(secrets)) expect(written).not.toContain(secret);
    expect(written.match(/\[redacted\]/g)?.length).toBeGreaterThanOrEqual(6);
    expect(written).toContain('client_1');
  });

  it('adds the request id to lines written while serving a request', () => {
    const { logger, records } = capturingLogger();
    runWithRequestContext({ requestId: 'req-123' }, () => logger.info('inside'));
    logger.info('outside');
    expect(records().map((r) => [r['msg'], r['requestId']])).toEqual([
      ['inside', 'req-123'],
      ['outside', undefined],
    ]);
  });
});
