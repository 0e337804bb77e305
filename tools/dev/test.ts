/**
 * `npm test`: everything CI checks, in order, failing fast —
 * generated contracts in sync, formatting, lint (incl. module boundaries), types, then every Jest suite
 * (unit, integration, end-to-end) against the real stack, which it starts when it is not already up.
 * Ends with one line `N passed, N failed, N skipped`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { unlistedSkips, type SkippedTest } from '../jest/allowed-skips';
import { describeFailure } from '../stack/errors';
import { stackEndpoints, stackUp } from '../stack/stack';

const root = join(__dirname, '..', '..');
const bin = (name: string) => join(root, 'node_modules', '.bin', name);

function step(title: string, command: string, args: string[], env: Record<string, string> = {}): void {
  const t0 = Date.now();
  console.log(`\n▶ ${title}: ${[command.replace(`${root}/`, ''), ...args].join(' ')}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  const seconds = ((Date.now() - t0) / 1000).toFixed(1);
  if (result.status !== 0) {
    console.error(`✖ ${title} failed after ${seconds} s`);
    console.log('0 passed, 1 failed');
    process.exit(result.status ?? 1);
  }
  console.log(`✔ ${title} (${seconds} s)`);
}

interface JestSummary {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests?: number;
  numTotalTestSuites: number;
  numFailedTestSuites: number;
  success: boolean;
  testResults: { name: string; assertionResults: { fullName: string; status: string }[] }[];
}

/** Tests Jest did not run (skipped, pending, todo), by file and full name. */
function skippedTests(summary: JestSummary): SkippedTest[] {
  return summary.testResults.flatMap((file) =>
    file.assertionResults
      .filter((test) => test.status !== 'passed' && test.status !== 'failed')
      .map((test) => ({ file: file.name.replace(`${root}/`, ''), fullName: test.fullName })),
  );
}

async function main(): Promise<void> {
  const started = Date.now();
  const quick = process.argv.includes('--no-static');
  if (!quick) {
    step('contracts match schemas', process.execPath, [
      join(root, 'tools', 'run-ts.js'),
      'tools/codegen/generate-contracts.ts',
      '--check',
    ]);
    step('formatting', bin('prettier'), ['--check', '--log-level', 'warn', '.']);
    // The module-boundary rule needs Nx's project graph; computing it first lets one ESLint run cover the repo.
    step('project graph', bin('nx'), ['show', 'projects', '--json'], { NX_DAEMON: 'false' });
    step('lint', bin('eslint'), ['--max-warnings', '0', '.']);
    step('types', bin('tsc'), ['-p', 'tsconfig.json', '--noEmit']);
  }
  console.log('\n▶ real stack (Kafka, Apicurio Registry, PostgreSQL, FerretDB)');
  await stackUp();
  const endpoints = stackEndpoints();
  mkdirSync(join(root, '.stack'), { recursive: true });
  const report = join(root, '.stack', 'jest-results.json');
  // A Jest that dies before writing its report must not be judged by the previous run's.
  rmSync(report, { force: true });
  const jest = spawnSync(
    bin('jest'),
    // --forceExit: a suite whose service hung past its hook timeout has failed already; its handles must not hang CI.
    [
      '--ci',
      '--forceExit',
      '--json',
      `--outputFile=${report}`,
      ...process.argv.slice(2).filter((a) => a !== '--no-static'),
    ],
    { cwd: root, stdio: 'inherit', env: { ...process.env, ...endpoints.env, TRIBUTARY_TEST_SUITE: 'all' } },
  );
  let summary: JestSummary | undefined;
  try {
    summary = JSON.parse(readFileSync(report, 'utf8')) as JestSummary;
  } catch {
    summary = undefined;
  }
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  if (!summary) {
    console.log(`jest produced no report (exit ${jest.status}) after ${minutes} min`);
    console.log('0 passed, 1 failed');
    process.exit(jest.status || 1);
  }
  const unlisted = unlistedSkips(skippedTests(summary));
  for (const test of unlisted) {
    console.log(`✖ skipped, and not in tools/jest/allowed-skips.ts: ${test.fullName} (${test.file})`);
  }
  const skipped = summary.numPendingTests + (summary.numTodoTests ?? 0);
  // An unlisted skip counts as a failure: a test that quietly stops running can no longer fail.
  const failed = summary.numFailedTests + unlisted.length;
  console.log(`\n${summary.numTotalTestSuites} suites in ${minutes} min`);
  console.log(`${summary.numPassedTests} passed, ${failed} failed, ${skipped} skipped`);
  const green = jest.status === 0 && summary.success && summary.numPassedTests > 0 && unlisted.length === 0;
  process.exit(green ? 0 : 1);
}

main().catch((error: unknown) => {
  // A StackError's message holds its reasons (each problem, a log's tail); any other error keeps its stack.
  console.error(describeFailure(error));
  console.log('0 passed, 1 failed');
  process.exit(1);
});
