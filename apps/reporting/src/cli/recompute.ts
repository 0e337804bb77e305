/**
 * `npm run recompute:reports -- --into <database> [--since <ISO instant>] [--workspace <id>] [--compare]`
 * Rebuilds reporting's read models from the raw topics into another database with a progress bar, and with
 * `--compare` says whether they equal the live ones (exit code 2 when they differ). After a time zone change, rebuild
 * into a new database and point reporting's MONGO_DB at it.
 */
import { Command, InvalidArgumentError } from 'commander';
import { runRecompute } from './recompute-command';

function instant(value: string): number {
  const ms = Date.parse(value);
  if (Number.isNaN(ms))
    throw new InvalidArgumentError('must be an ISO-8601 instant, e.g. 2026-11-26T12:00:00Z');
  return ms;
}

async function main(): Promise<void> {
  const opts = new Command('recompute:reports')
    .description("Rebuild reporting's read models from the raw topics, and compare them with the live ones")
    .requiredOption('--into <database>', 'database to rebuild into (dropped first; not the live one)')
    .option(
      '--since <instant>',
      'rebuild from the records written since then (default: each topic’s beginning)',
      instant,
    )
    .option('-w, --workspace <id>', 'only this workspace')
    .option('--compare', 'compare with the live read models', false)
    .parse()
    .opts<{ into: string; since?: number; workspace?: string; compare: boolean }>();
  const summary = await runRecompute(opts);
  if (summary.equal === false) process.exit(2);
}

main().catch((error: unknown) => {
  console.error(`recompute failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
