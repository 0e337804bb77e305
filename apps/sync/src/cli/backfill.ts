/**
 * `npm run sync:backfill -- --workspace <id> --connection <conn_…> [--object contacts]`
 * Reads a whole object of a connection (from its cursor, so a first run reads everything and a rerun resumes), with a
 * progress bar. Ctrl-C stops after the page in flight; the service's replicas wait for it (the poll's lease).
 */
import { Command } from 'commander';
import { runBackfill } from './backfill-command';

const opts = new Command('sync:backfill')
  .requiredOption('--workspace <id>', 'the workspace the connection belongs to')
  .requiredOption('--connection <id>', 'the connection (conn_…)')
  .option('--object <name>', 'the vendor object', 'contacts')
  .parse()
  .opts<{ workspace: string; connection: string; object: string }>();

const interrupt = new AbortController();
process.once('SIGINT', () => interrupt.abort());
process.once('SIGTERM', () => interrupt.abort());

runBackfill(opts, undefined, undefined, interrupt.signal).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
