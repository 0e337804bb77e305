/**
 * The contracts codegen: the committed libs/contracts/src/generated is what schemas/ and the service list make, and
 * `npm run codegen:check` really fails, naming the stale file and its source, when a scratch copy's list changes
 * (Prettier cannot load inside Jest, so the CLI runs as its own process, as npm runs it).
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { CredentialScopes, ServiceNames, ServiceScopes } from '@tributary/contracts';
import { REPO_ROOT, SERVICE_ENTRIES, SERVICE_LIST_FILE, readServiceList } from '../services/service-list';
import { credentialScopes } from './services-module';

const GENERATED = 'libs/contracts/src/generated';
const SERVICES_TS = `${GENERATED}/services.ts`;
const run$ = promisify(execFile);

/** Runs the codegen on the workspace at `root`: its exit code and everything it printed. */
async function codegen(root: string, ...args: string[]): Promise<{ code: number; output: string }> {
  const cli = [join(REPO_ROOT, 'tools', 'run-ts.js'), 'tools/codegen/generate-contracts.ts', '--root', root];
  try {
    const { stdout, stderr } = await run$(process.execPath, [...cli, ...args], { cwd: REPO_ROOT });
    return { code: 0, output: `${stdout}${stderr}` };
  } catch (error) {
    const { code, stdout, stderr } = error as { code?: number; stdout?: string; stderr?: string };
    return { code: code ?? 1, output: `${stdout ?? ''}${stderr ?? ''}` };
  }
}

const read = (root: string, file: string): string => readFileSync(join(root, file), 'utf8');

describe('the generated contracts', () => {
  it('are what schemas/ and the service list make (npm run codegen:check passes on the repo)', async () => {
    const { code, output } = await codegen(REPO_ROOT, '--check');
    expect(output).toMatch(/contracts up to date/);
    expect(code).toBe(0);
  });

  it("hold the list's services, each one's scopes, and their union once each", () => {
    expect(ServiceNames).toEqual(SERVICE_ENTRIES.map((s) => s.name));
    expect(ServiceScopes).toEqual(Object.fromEntries(SERVICE_ENTRIES.map((s) => [s.name, s.scopes])));
    expect(CredentialScopes).toEqual(credentialScopes(readServiceList()));
    expect(new Set(CredentialScopes).size).toBe(CredentialScopes.length);
  });

  it('list a scope two services honour once', () => {
    const list = readServiceList();
    const [first, second] = list.services;
    if (!first || !second) throw new Error('the list has fewer than two services');
    const shared = { ...list, services: [first, { ...second, scopes: [...second.scopes, ...first.scopes] }] };
    expect(credentialScopes(shared)).toEqual([...new Set([...first.scopes, ...second.scopes])]);
  });

  describe('on a scratch copy', () => {
    let root: string;
    beforeEach(() => {
      root = mkdtempSync(join(tmpdir(), 'contracts-'));
      for (const path of ['schemas', SERVICE_LIST_FILE, GENERATED]) {
        mkdirSync(dirname(join(root, path)), { recursive: true });
        cpSync(join(REPO_ROOT, path), join(root, path), { recursive: true });
      }
    });
    afterEach(() => rmSync(root, { recursive: true, force: true }));

    it('starts out up to date, like the repo', async () => {
      expect(await codegen(root, '--check')).toMatchObject({ code: 0 });
    });

    it('fails the check when a scope is added to the list, naming services.ts; npm run codegen fixes it', async () => {
      const real = read(REPO_ROOT, SERVICES_TS);
      const list = JSON.parse(read(root, SERVICE_LIST_FILE)) as {
        services: { name: string; scopes: string[] }[];
      };
      list.services.find((s) => s.name === 'reporting')?.scopes.push('reports:export');
      writeFileSync(join(root, SERVICE_LIST_FILE), JSON.stringify(list, null, 2));

      const stale = await codegen(root, '--check');
      expect(stale.code).toBe(1);
      expect(stale.output).toContain(
        `contracts drift from their sources in: services.ts (from ${SERVICE_LIST_FILE}). Run \`npm run codegen\``,
      );

      expect(await codegen(root)).toMatchObject({ code: 0 });
      expect(read(root, SERVICES_TS)).toMatch(
        /reporting: \['reports:read', 'reports:admin', 'reports:export'\]/,
      );
      expect(await codegen(root, '--check')).toMatchObject({ code: 0 });
      expect(read(REPO_ROOT, SERVICES_TS)).toBe(real);
    });

    it('fails the check when services.ts is missing or edited by hand', async () => {
      rmSync(join(root, SERVICES_TS));
      expect(await codegen(root, '--check')).toMatchObject({
        code: 1,
        output: expect.stringContaining('services.ts'),
      });
      await codegen(root);
      writeFileSync(join(root, SERVICES_TS), read(root, SERVICES_TS).replace("'admin', ", ''));
      expect(await codegen(root, '--check')).toMatchObject({
        code: 1,
        output: expect.stringContaining(`services.ts (from ${SERVICE_LIST_FILE})`),
      });
    });
  });
});
