import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import { Presets, SingleBar } from 'cli-progress';
import { LeadsModule } from '../app.module';
import { loadLeadsConfig, type LeadsConfig } from '../config';
import { ContactRepository } from '../contacts/contact.repository';
import { LeadScoring } from '../leads/lead-scoring.service';
import { rescoreWorkspace, type RescoreSummary } from '../leads/rescore';
import { ScoringModelStore } from '../models/scoring-model.store';

export interface RescoreArgs {
  workspace: string;
  /** Decay engagement to this instant (epoch ms); now when absent. */
  asOf?: number;
}

/** Where the CLI writes: the progress bar (stderr by default) and its closing line (stdout). */
export interface RescoreOutput {
  progress: NodeJS.WritableStream;
  log: (line: string) => void;
}

/** The CLI's configuration: the service's, with quiet logs and no interval jobs. */
export function rescoreConfig(env: Record<string, string | undefined> = process.env): LeadsConfig {
  return loadLeadsConfig({
    ...env,
    HTTP_PORT: '0',
    LOG_LEVEL: env['LOG_LEVEL'] ?? 'warn',
    LEADS_BACKGROUND_JOBS: 'false',
  });
}

/**
 * Boots what rescoring needs (store, publisher, lead pipeline; see `LeadsModule.forRescore`): no HTTP, no
 * consumers, no credential table to wait for, no sweeps.
 */
export async function createRescoreContext(config: LeadsConfig): Promise<INestApplicationContext> {
  return NestFactory.createApplicationContext(LeadsModule.forRescore(config), { logger: false });
}

/**
 * Rescores a workspace's contacts under its current scoring model with a progress bar, then prints one line:
 * `rescored N contact(s) of <ws> with model vX: M changed`.
 */
export async function runRescore(
  args: RescoreArgs,
  config: LeadsConfig = rescoreConfig(),
  output: RescoreOutput = { progress: process.stderr, log: (line) => console.log(line) },
): Promise<RescoreSummary> {
  const app = await createRescoreContext(config);
  try {
    const { version } = await app.get(ScoringModelStore).current(args.workspace);
    const bar = new SingleBar(
      {
        format: `rescore ${args.workspace} (model v${version}) [{bar}] {value}/{total} contacts | {duration}s`,
        stream: output.progress,
        noTTYOutput: true,
        notTTYSchedule: 2_000,
      },
      Presets.shades_classic,
    );
    const summary = await rescoreWorkspace({
      contacts: app.get(ContactRepository),
      scoring: app.get(LeadScoring),
      workspaceId: args.workspace,
      modelVersion: version,
      asOf: args.asOf ?? Date.now(),
      onProgress: (done, total) => (done === 0 ? bar.start(total, 0) : bar.update(done)),
    });
    bar.stop();
    output.log(
      `rescored ${summary.contacts} contact(s) of ${args.workspace} with model v${summary.modelVersion}: ${summary.changed} changed`,
    );
    return summary;
  } finally {
    await app.close();
  }
}
