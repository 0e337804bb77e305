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
});
