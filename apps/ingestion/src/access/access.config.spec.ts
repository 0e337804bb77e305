import { ConfigError } from '@tributary/config';
import { loadIngestionConfig } from '../config';
import { INSECURE_DEV_ADMIN_TOKEN } from './access.config';

function configError(env: Record<string, string>): ConfigError | undefined {
  try {
    loadIngestionConfig(env);
    return undefined;
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
}

describe('access configuration', () => {
  it('in production, refuses to start without ADMIN_TOKEN and names it, alongside other problems', () => {
    const error = configError({ NODE_ENV: 'production', HTTP_PORT: 'eighty' });
    expect(error?.problems).toEqual([
      expect.stringMatching(/^HTTP_PORT/),
      expect.stringMatching(/^ADMIN_TOKEN: missing \(required when NODE_ENV=production/),
    ]);
    expect(configError({ NODE_ENV: 'production', ADMIN_TOKEN: INSECURE_DEV_ADMIN_TOKEN })?.message).toContain(
      'ADMIN_TOKEN',
    );
    expect(configError({ NODE_ENV: 'production', ADMIN_TOKEN: 'short' })?.message).toContain('ADMIN_TOKEN');
    expect(configError({ NODE_ENV: 'production', ADMIN_TOKEN: 'x'.repeat(40) })).toBeUndefined();
  });

  it('outside production, falls back to the clearly named dev token', () => {
    expect(loadIngestionConfig({}).ADMIN_TOKEN).toBe(INSECURE_DEV_ADMIN_TOKEN);
  });
});
