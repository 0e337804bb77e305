import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');

/** Lints source text as if it were a file at `path` in the repo (ESLint CLI: its config loader needs real ESM). */
async function lintAs(path: string, code: string): Promise<string[]> {
  const result = spawnSync(
    join(root, 'node_modules', '.bin', 'eslint'),
    ['--stdin', '--stdin-filename', join(root, path), '--format', 'json'],
    { cwd: root, input: code, encoding: 'utf8' },
  );
  const [report] = JSON.parse(result.stdout) as { messages: { ruleId: string | null; message: string }[] }[];
  return (report?.messages ?? []).map((m) => `${m.ruleId ?? 'fatal'}: ${m.message}`);
}

describe('module boundaries (Nx)', () => {
  beforeAll(() => {
    // The rule reads Nx's project graph; compute it so the rule runs instead of being skipped.
    execFileSync(join(root, 'node_modules', '.bin', 'nx'), ['show', 'projects'], {
      cwd: root,
      env: { ...process.env, NX_DAEMON: 'false' },
      stdio: 'ignore',
    });
  });

  it('fails lint when an app imports another app', async () => {
    const messages = await lintAs(
      'apps/leads/src/contacts/leak.ts',
      "import { loadIngestionConfig } from '../../../ingestion/src/config';\nexport const leak = loadIngestionConfig;\n",
    );
    expect(messages.some((m) => m.startsWith('@nx/enforce-module-boundaries'))).toBe(true);
  });

  it('fails lint when an app imports another app through its alias', async () => {
    const messages = await lintAs(
      'apps/reporting/src/event-counts/leak.ts',
      "import { LeadsModule } from '@tributary/leads';\nexport const leak = LeadsModule;\n",
    );
    expect(messages.some((m) => m.startsWith('@nx/enforce-module-boundaries'))).toBe(true);
  });

  it('lets an app import a lib through its @tributary alias', async () => {
    const messages = await lintAs(
      'apps/leads/src/contacts/ok.ts',
      "import { Topics } from '@tributary/contracts';\nexport const topic = Topics.LeadsScored;\n",
    );
    expect(messages).toEqual([]);
  });

  it('fails lint when a lib imports an app', async () => {
    const messages = await lintAs(
      'libs/messaging/src/leak.ts',
      "import { LeadsModule } from '../../../apps/leads/src/app.module';\nexport const leak = LeadsModule;\n",
    );
    expect(messages.some((m) => m.startsWith('@nx/enforce-module-boundaries'))).toBe(true);
  });

  it.each([
    ['libs/config/src/leak.ts', '@tributary/store', 'STORE_CONNECTION'],
    ['libs/observability/src/leak.ts', '@tributary/messaging', 'KAFKA_CLIENT'],
    ['libs/store/src/leak.ts', '@tributary/messaging', 'KAFKA_CLIENT'],
    ['libs/messaging/src/leak.ts', '@tributary/access', 'hasScopes'],
    ['libs/access/src/leak.ts', '@tributary/runtime', 'startService'],
    ['libs/contracts/src/leak.ts', '@tributary/config', 'SERVICE_CONFIG'],
  ])('fails lint when a lib imports a layer above it (%s from %s)', async (path, lib, name) => {
    const messages = await lintAs(path, `import { ${name} } from '${lib}';\nexport const leak = ${name};\n`);
    expect(messages.some((m) => m.startsWith('@nx/enforce-module-boundaries'))).toBe(true);
  });

  it.each([
    ['libs/messaging/src/ok.ts', '@tributary/store', 'STORE_CONNECTION'],
    ['libs/access/src/ok.ts', '@tributary/messaging', 'KAFKA_CLIENT'],
    ['libs/runtime/src/ok.ts', '@tributary/access', 'hasScopes'],
  ])('lets a lib import a layer below it (%s from %s)', async (path, lib, name) => {
    const messages = await lintAs(path, `import { ${name} } from '${lib}';\nexport const ok = ${name};\n`);
    expect(messages).toEqual([]);
  });

  it('keeps the test harness out of production code, and lets specs use it', async () => {
    const code = "import { uniqueId } from '@tributary/testing';\nexport const id = uniqueId('x');\n";
    const inCode = await lintAs('apps/leads/src/contacts/leak.ts', code);
    expect(inCode.some((m) => m.startsWith('@nx/enforce-module-boundaries'))).toBe(true);
    expect(await lintAs('apps/leads/src/contacts/ok.spec.ts', code)).toEqual([]);
    expect(await lintAs('libs/store/src/ok.spec.ts', code)).toEqual([]);
  });
});
