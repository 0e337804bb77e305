/**
 * `npm run rescore -- --workspace <id> [--as-of <ISO instant>]`
 * Rescores a workspace's contacts under its current scoring model (after a model change), with a progress bar;
 * announces changed scores on `leads.scored` and moves leads that now qualify to MQL. Boots only the store, the
 * publisher and the lead pipeline (see `runRescore`).
 */
import { Command, InvalidArgumentError } from 'commander';
import { runRescore } from './rescore-command';

function instant(value: string): number {
  const ms = Date.parse(value);
  if (Number.isNaN(ms))
    throw new InvalidArgumentError('must be an ISO-8601 instant, e.g. 2026-11-26T12:00:00Z');
  return ms;
}

async function main(): Promise<void> {
  const opts = new Command('rescore')
    .description("Rescore a workspace's contacts under its current scoring model")
    .requiredOption('-w, --workspace <id>', 'workspace whose contacts to rescore')
    .option('--as-of <instant>', 'decay engagement to this instant (default: now)', instant)
    .parse()
    .opts<{ workspace: string; asOf?: number }>();
  await runRescore({ workspace: opts.workspace, asOf: opts.asOf });
}

main().catch((error: unknown) => {
  console.error(`rescore failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
