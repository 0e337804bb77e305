import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * Where Debian's `chromium` is: TRIBUTARY_CHROMIUM if set, else `/usr/bin/chromium`, else `chromium` on the PATH.
 * Throws with the install command when there is none: a dashboard test that cannot start a browser must fail, not skip.
 */
export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = [
    env['TRIBUTARY_CHROMIUM'],
    '/usr/bin/chromium',
    ...(env['PATH'] ?? '').split(delimiter).map((dir) => join(dir, 'chromium')),
  ].filter((path): path is string => typeof path === 'string' && path !== '');
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // Not there or not executable: try the next.
    }
  }
  throw new Error(
    'the dashboard test drives a real headless Chromium and found none (looked at ' +
      `${candidates.join(', ')}). Install Debian's package: apt-get install -y chromium ` +
      '(.ci/run does it), or set TRIBUTARY_CHROMIUM to a Chromium binary.',
  );
}
