import { NestFactory } from '@nestjs/core';
import { Presets, SingleBar } from 'cli-progress';
import { SyncModule } from '../app.module';
import { ChangeCapture } from '../changes/change-capture.service';
import { loadSyncConfig, type SyncConfig } from '../config';

export interface BackfillArgs {
  workspace: string;
  connection: string;
  /** The vendor object (`contacts`, `members`). */
  object: string;
}

export interface BackfillOutput {
  progress: NodeJS.WritableStream;
  log: (line: string) => void;
}

/** The CLI's configuration: the service's, quiet, without the background poll. */
export function backfillConfig(env: Record<string, string | undefined> = process.env): SyncConfig {
  return loadSyncConfig({
    ...env,
    HTTP_PORT: '0',
    LOG_LEVEL: env['LOG_LEVEL'] ?? 'warn',
    SYNC_BACKGROUND_JOBS: 'false',
  });
}

/**
 * Reads a connection's object from its cursor up to now with a progress bar, publishing each page on records.changed
 * and saving the cursor after Kafka acknowledged it; then prints `backfilled N record(s) of <object> …`. Interrupted
 * (`signal`, Ctrl-C), it stops after the page in flight and running it again resumes from there.
 */
export async function runBackfill(
  args: BackfillArgs,
  config: SyncConfig = backfillConfig(),
  output: BackfillOutput = { progress: process.stderr, log: (line) => console.log(line) },
  signal?: AbortSignal,
): Promise<{ published: number; read: number }> {
  const app = await NestFactory.createApplicationContext(SyncModule.forBackfill(config), { logger: false });
  const bar = new SingleBar(
    {
      format: `backfill ${args.object} of ${args.connection} [{bar}] {value}/{total} records | {rate}/s | ETA {eta_formatted}`,
      stream: output.progress,
      noTTYOutput: true,
      notTTYSchedule: 2_000,
    },
    Presets.shades_classic,
  );
  let read = 0;
  const started = Date.now();
  try {
    const { published } = await app
      .get(ChangeCapture)
      .backfill(args.workspace, args.connection, args.object, {
        onStart: (total) => bar.start(total ?? 0, 0, { rate: 0 }),
        onPage: (records) => {
          read = records;
          // The vendor's count is an estimate (records change meanwhile): the bar grows rather than overflow.
          if (records > bar.getTotal()) bar.setTotal(records);
          bar.update(records, { rate: Math.round(records / Math.max(0.001, (Date.now() - started) / 1000)) });
        },
        ...(signal ? { signal } : {}),
      });
    bar.stop();
    output.log(
      `backfilled ${read} record(s) of ${args.object} from ${args.connection}: ${published} new version(s) published` +
        (signal?.aborted ? ' (interrupted: run again to resume)' : ''),
    );
    return { published, read };
  } finally {
    bar.stop();
    await app.close();
  }
}
