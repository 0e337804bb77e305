/**
 * `npm run rescore -- --workspace <id> [--as-of <ISO instant>]`
 * Rescores a workspace's contacts under its current scoring model (after a model change), with a progress bar;
 * announces changed scores on `leads.scored` and moves leads that now qualify to MQL.
 */
import { NestFactory } from '@nestjs/core';
import { Command, InvalidArgumentError } from 'commander';
import { Presets, SingleBar } from 'cli-progress';
import type { Model } from 'mongoose';
import { ScoringModule } from '../app.module';
import { loadScoringConfig } from '../config';
import { CONTACT_MODEL, type ContactDoc } from '../contacts/contact.model';
import { LeadPipeline } from '../leads/lead-pipeline.service';
import { rescoreWorkspace } from '../leads/rescore';
import { ScoringModelStore } from '../models/scoring-model.store';

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
  // The CLI rescored and leaves: no consumers, no background sweeps, quiet logs.
  const config = loadScoringConfig({
    ...process.env,
    HTTP_PORT: '0',
    LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'warn',
    SCORING_BACKGROUND_JOBS: 'false',
  });
  const app = await NestFactory.createApplicationContext(ScoringModule.forRoot(config), { logger: false });
  try {
    const { version } = await app.get(ScoringModelStore).current(opts.workspace);
    const bar = new SingleBar(
      {
        format: `rescore ${opts.workspace} (model v${version}) [{bar}] {value}/{total} contacts | {duration}s`,
        noTTYOutput: true,
        notTTYSchedule: 2_000,
      },
      Presets.shades_classic,
    );
    const summary = await rescoreWorkspace({
      contacts: app.get<Model<ContactDoc>>(CONTACT_MODEL),
      pipeline: app.get(LeadPipeline),
      workspaceId: opts.workspace,
      modelVersion: version,
      asOf: opts.asOf ?? Date.now(),
      onProgress: (done, total) => (done === 0 ? bar.start(total, 0) : bar.update(done)),
    });
    bar.stop();
    console.log(
      `rescored ${summary.contacts} contact(s) of ${opts.workspace} with model v${summary.modelVersion}: ${summary.changed} changed`,
    );
  } finally {
    await app.close();
  }
}

main().catch((error: unknown) => {
  console.error(`rescore failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
