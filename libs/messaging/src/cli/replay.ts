/**
 * `npm run replay -- --group <consumer-group> [--limit N] [--dry-run]`
 * Re-publishes dead-lettered records of a consumer group to their source topics, with a progress bar.
 */
import { Command, InvalidArgumentError } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { createLogger } from '@tributary/observability';
import { loadServiceConfig } from '@tributary/config';
import { createKafka } from '../kafka-connection';
import { AvroSchemaRegistry } from '../schema-registry';
import { replayDeadLetters } from '../replay-dead-letters';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

async function main(): Promise<void> {
  const program = new Command('replay')
    .description('Re-publish dead letters of a consumer group to their source topics')
    .requiredOption('-g, --group <group>', 'consumer group whose dead-letter topic (dlq.<group>) to replay')
    .option('-l, --limit <n>', 'replay at most n records', positiveInt)
    .option('--dry-run', 'count what would be replayed, publish nothing', false)
    .option(
      '--poison',
      'replay only the poison and undecodable letters (once a fix for them is deployed); a normal replay passes over them',
      false,
    )
    .parse();
  const opts = program.opts<{ group: string; limit?: number; dryRun: boolean; poison: boolean }>();
  const config = loadServiceConfig('replay', process.env, {}, { HTTP_PORT: '0', LOG_LEVEL: 'warn' });
  const logger = createLogger('replay', config.LOG_LEVEL);
  const kafka = createKafka('tributary-replay', config.KAFKA_BROKERS, logger);
  const registry = new AvroSchemaRegistry(config.SCHEMA_REGISTRY_URL);
  const bar = new SingleBar(
    {
      format: 'replay dlq.{group} [{bar}] {value}/{total} records | {duration}s',
      noTTYOutput: true,
      notTTYSchedule: 2_000,
    },
    Presets.shades_classic,
  );
  const result = await replayDeadLetters({
    kafka,
    registry,
    consumerGroup: opts.group,
    limit: opts.limit,
    dryRun: opts.dryRun,
    poison: opts.poison,
    onProgress: (done, total) => {
      if (done === 0) bar.start(total, 0, { group: opts.group });
      else bar.update(done);
    },
  });
  bar.stop();
  const verb = opts.dryRun ? 'would replay' : 'replayed';
  const count = opts.dryRun ? result.skipped : result.replayed;
  console.log(`${verb} ${count} record(s) from dlq.${opts.group}: ${JSON.stringify(result.byTopic)}`);
  if (result.passedOver > 0)
    console.log(
      opts.poison
        ? `passed over ${result.passedOver} letter(s) that are not poison (a replay without --poison takes them)`
        : `passed over ${result.passedOver} poison letter(s): the same bytes would fail the same way; ` +
            'replay them with --poison once a fix is deployed',
    );
}

main().catch((error: unknown) => {
  console.error(`replay failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
