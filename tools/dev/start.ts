/**
 * `npm start`: the whole platform on this machine without Docker — the real stack (Kafka, Apicurio, FerretDB),
 * all five services as separate processes, and demo traffic — then prints where to look. Ctrl-C stops the
 * services (the stack keeps running for a fast restart; `npm run stack -- down` stops it).
 */
import { join } from 'node:path';
import { stackEndpoints, stackUp } from '../stack/stack';
import { sendDemoTraffic } from './demo-traffic';
import { SERVICES, spawnService, stopService, waitReady, type RunningProcess } from './services';

const root = join(__dirname, '..', '..');

async function main(): Promise<void> {
  const t0 = Date.now();
  await stackUp();
  const endpoints = stackEndpoints();
  const logDir = join(root, '.stack', 'logs', 'services');
  console.log('starting services (logs in .stack/logs/services/) ...');
  const running: RunningProcess[] = SERVICES.map((s) =>
    spawnService(s.name, s.port, { ...endpoints.env }, logDir),
  );
  const controller = new AbortController();
  const shutdown = async () => {
    console.log('\nstopping services (graceful: in-flight batches finish and commit) ...');
    controller.abort();
    await Promise.all(running.map((s) => stopService(s)));
    console.log('services stopped; the stack is still up (npm run stack -- down to stop it).');
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());
  try {
    await Promise.all(
      running.map((s) => waitReady(s).then(() => console.log(`  ✔ ${s.name} ready at ${s.url}`))),
    );
  } catch (error) {
    console.error(`✖ ${(error as Error).message}`);
    await Promise.all(running.map((s) => stopService(s, 5_000)));
    process.exit(1);
  }
  const auth = '-u demo-write-key:';
  console.log(`
Tributary is up in ${((Date.now() - t0) / 1000).toFixed(1)} s — demo traffic is flowing (5 track calls/s).

  Tracking API     POST http://127.0.0.1:3000/v1/track
                   curl ${auth} -H 'content-type: application/json' \\
                     -d '{"userId":"ada","event":"Pricing Page Viewed"}' http://127.0.0.1:3000/v1/track
  Reporting API    curl ${auth} http://127.0.0.1:3004/v1/reports/event-counts
  A contact        curl ${auth} http://127.0.0.1:3001/v1/contacts/prospect-1
  Health           http://127.0.0.1:300{0..4}/health/ready
  Kafka            ${endpoints.kafkaBrokers}
  Schema registry  ${endpoints.schemaRegistryUrl}
  MongoDB wire     ${endpoints.mongoUrl}
  Service logs     .stack/logs/services/<service>.log

Ctrl-C stops the services.`);
  const { sent, failed } = await sendDemoTraffic({
    ingestionUrl: 'http://127.0.0.1:3000',
    writeKey: 'demo-write-key',
    ratePerSecond: 5,
    durationSeconds: Number(process.env['DEMO_DURATION_SECONDS'] ?? 0),
    signal: controller.signal,
    onSent: (ok, bad) => {
      if ((ok + bad) % 100 === 0) console.log(`demo traffic: ${ok} sent, ${bad} failed`);
    },
  });
  console.log(
    `demo traffic finished: ${sent} sent, ${failed} failed; services keep running (Ctrl-C to stop).`,
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
