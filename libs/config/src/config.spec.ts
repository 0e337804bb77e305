import { z } from 'zod';
import { ConfigError, loadServiceConfig } from './config';

describe('loadServiceConfig', () => {
  it('applies defaults and derives the database and client id from the service name', () => {
    const config = loadServiceConfig('leads', {}, {}, { HTTP_PORT: '3001' });
    expect(config).toMatchObject({
      SERVICE_NAME: 'leads',
      HTTP_PORT: 3001,
      MONGO_DB: 'tributary_leads',
      KAFKA_CLIENT_ID: 'tributary-leads',
      KAFKA_BROKERS: ['127.0.0.1:9092'],
    });
  });

  it('names every bad or missing key in one error', () => {
    let caught: unknown;
    try {
      loadServiceConfig(
        'sync',
        { MONGO_URL: 'postgres://nope', HTTP_PORT: 'eighty', LOG_LEVEL: 'loud' },
        { CRM_BASE_URL: z.string().url() },
      );
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const message = (caught as ConfigError).message;
    expect(message).toContain('MONGO_URL');
    expect(message).toContain('HTTP_PORT');
    expect(message).toContain('LOG_LEVEL');
    expect(message).toMatch(/CRM_BASE_URL: missing/);
    expect((caught as ConfigError).problems).toHaveLength(4);
  });

  it('leaves the fetch bounds to the transport unless set, and refuses a negative wait', () => {
    const unset = loadServiceConfig('reporting', { HTTP_PORT: '1' }, {});
    expect(unset.CONSUMER_FETCH_MIN_BYTES).toBeUndefined();
    expect(unset.CONSUMER_FETCH_MAX_WAIT_MS).toBeUndefined();
    expect(unset.CONSUMER_MAX_BYTES).toBe(10_485_760);
    const set = loadServiceConfig(
      'reporting',
      {
        HTTP_PORT: '1',
        CONSUMER_FETCH_MIN_BYTES: '1',
        CONSUMER_FETCH_MAX_WAIT_MS: '0',
        CONSUMER_MAX_BYTES: '2097152',
      },
      {},
    );
    expect(set).toMatchObject({
      CONSUMER_FETCH_MIN_BYTES: 1,
      CONSUMER_FETCH_MAX_WAIT_MS: 0,
      CONSUMER_MAX_BYTES: 2_097_152,
    });
    expect(() =>
      loadServiceConfig('reporting', { HTTP_PORT: '1', CONSUMER_FETCH_MAX_WAIT_MS: '-5' }, {}),
    ).toThrow(/CONSUMER_FETCH_MAX_WAIT_MS/);
  });

  it('splits the broker list', () => {
    const config = loadServiceConfig('x', { KAFKA_BROKERS: 'a:9092, b:9092', HTTP_PORT: '1' }, {});
    expect(config.KAFKA_BROKERS).toEqual(['a:9092', 'b:9092']);
  });
});
