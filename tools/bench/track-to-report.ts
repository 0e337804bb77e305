/**
 * `npm run bench:e2e [-- --rate 200 --seconds 60 --no-search]`: open-loop latency from an HTTP track call to the
 * event being in the reporting read model, with all five services running as separate processes on the real stack.
 * Reporting updates its read model and then publishes `reports.event-counts`, each report naming the events it counted
 * (`eventIds`); a consumer of that topic matches each track call's eventId (returned by ingestion) to its report.
 *
 * Open loop: call i of a phase is due at start + i/rate and is fired then whatever earlier answers take, so a slow
 * pipeline shows as latency instead of a lower send rate. Latency runs from the due time (not the actual send) to
 * the report; a call sent late (in-flight cap reached, or the bench itself behind) is counted as late. Lost = a
 * non-2xx or failed call, or a report not seen within the drain window after the phase's last send.
 *
 * Phases: a warm-up at the rate (not counted), the measured phase, then (unless --no-search) shorter probes that
 * look for the highest rate with p99 ≤ --p99-ms and none lost, each after the previous backlog has drained, within
 * --budget seconds overall. Prints a table of the phases and ends with `RESULT e2e ...`.
 *
 * The services run compiled, as production runs them (built first when their dist is missing or stale), unless
 * `--dev`; each one's resident memory is sampled every 500 ms from start-up to the end of the last phase, printed as
 * a table, and the largest goes on the RESULT line as `rss_max_mib` (with `rss_max_service`). `BENCH_NODE_ARGS`
 * passes Node flags to all five (e.g. `--max-old-space-size=96`, `--heapsnapshot-signal=SIGUSR2`).
 */
import { Command } from 'commander';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Topics, type EventCountReport } from '@tributary/contracts';
import { AvroSchemaRegistry, createKafka } from '@tributary/messaging';
import { createLogger } from '@tributary/observability';
import { spawnService, stopService, uniqueId, waitReady } from '@tributary/testing';
import { stackEndpoints, stackUp } from '../stack/stack';
import { SERVICES } from '../dev/services';
import {
  assertPortsFree,
  DEV_FLAG,
  DEV_FLAG_HELP,
  UNLIMITED_EDGE,
  cpuSeconds,
  cpuShares,
  exitedCheck,
  RssSampler,
  benchMode,
  ensureBuilt,
  modeLabel,
  printRss,
  podEnv,
  podNodeArgs,
  productionEnv,
  rssResult,
} from './production';
import { highestPassingRate, latencySummary, nextProbeRate, resultLine, type RateProbe } from './stats';

const num = (v: string): number => Number(v);
const opts = new Command('bench:e2e')
  .option('--rate <n>', 'track calls per second in the measured phase', num, 200)
  .option('--seconds <n>', 'length of the measured phase', num, 60)
  .option('--warmup <n>', 'seconds at the rate before the measured phase, not counted', num, 10)
  .option(
    '--drain <n>',
    'seconds after the measured phase to wait for reports before counting the rest lost',
    num,
    30,
  )
  .option('--p99-ms <n>', 'p99 a rate must stay within (and lose nothing) to pass', num, 1000)
  .option('--no-search', 'skip the search for the highest passing rate')
  .option('--probe-seconds <n>', 'length of each search probe', num, 15)
  .option('--probe-drain <n>', 'drain window of a probe (a report later than this fails it anyway)', num, 5)
  .option('--settle <n>', 'at most this many seconds to let a backlog clear before a probe', num, 60)
  .option('--budget <n>', 'seconds the whole bench may take; no probe starts that could overrun it', num, 470)
  .option('--max-in-flight <n>', 'unanswered calls allowed before sends wait (and count as late)', num, 2000)
  .option('--port-base <n>', 'first HTTP port of the five services', num, 4100)
  .option(DEV_FLAG, DEV_FLAG_HELP)
  .parse()
  .opts<{
    rate: number;
    seconds: number;
    warmup: number;
    drain: number;
    p99Ms: number;
    search: boolean;
    probeSeconds: number;
    probeDrain: number;
    settle: number;
    budget: number;
    maxInFlight: number;
    portBase: number;
    dev?: boolean;
  }>();
const mode = benchMode(opts.dev);

/** A call sent more than this after its due time counts as late (timer and event-loop slack below it). */
const LATE_MS = 20;
/** A call not answered by then is given up (and counted lost). */
const CALL_TIMEOUT_MS = 30_000;

/** What one phase sent and saw; `closed` once its drain window is over, so later reports only clear the backlog. */
interface Phase {
  name: string;
  rate: number;
  seconds: number;
  sent: number;
  late: number;
  /** Calls answered non-2xx (by status; 0 = no answer, e.g. timed out) within the phase. */
  rejected: Map<number, number>;
  latencies: number[];
  /** Due time → HTTP answer, to tell ingestion's share from the pipeline's. */
  answers: number[];
  closed: boolean;
}

interface PhaseRow {
  phase: string;
  rate: number;
  seconds: number;
  sent: number;
  late: number;
  lost: number;
  /** Of the lost, the calls answered non-2xx, as count×status. */
  rejected: string;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  http_p99_ms: number;
  /** Reports of earlier phases still outstanding when this one started: a backlog it competed with. */
  backlog: number;
  /** Records others wrote to tracking.events during the phase (at least), which the services worked through too. */
  others: number;
  ok: boolean;
}

async function main(): Promise<void> {
  const begun = performance.now();
  await stackUp();
  const endpoints = stackEndpoints();
  const run = uniqueId('bench');
  const key = `bench-key-${run}`;
  const workspace = `ws_${run}`;
  const logDir = join(__dirname, '..', '..', '.stack', 'logs', `bench-${run}`);
  if (mode === 'production') ensureBuilt(SERVICES.map((s) => s.name));
  await assertPortsFree(SERVICES.map((_, i) => opts.portBase + i));
  const nodeArgs = (process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
  const production = productionEnv(mode);
  const services = SERVICES.map((s, i) =>
    spawnService(
      s.name,
      opts.portBase + i,
      {
        ...endpoints.env,
        MONGO_DB: `bench_${run}_${s.name}`,
        CONSUMER_GROUP: `${s.name}.${run}`,
        CONSUMER_FROM_BEGINNING: 'false',
        WRITE_KEYS: `${key}:${workspace}`,
        LOG_LEVEL: 'warn',
        ...(s.name === 'ingestion' ? UNLIMITED_EDGE : {}),
        ...podEnv(s.name, mode),
        ...production,
      },
      logDir,
      { nodeArgs: [...podNodeArgs(s.name, mode), ...nodeArgs], mode },
    ),
  );
  const kafka = createKafka(
    `bench-${run}`,
    endpoints.kafkaBrokers.split(','),
    createLogger('bench', 'error'),
  );
  const registry = new AvroSchemaRegistry(endpoints.schemaRegistryUrl);
  const reports = kafka.consumer({ groupId: `bench.reports.${run}` });
  const admin = kafka.admin();
  try {
    console.log(
      `starting five services on ports ${opts.portBase}-${opts.portBase + 4}, ${modeLabel(mode)} (logs: ${logDir})`,
    );
    await Promise.all(services.map((s) => waitReady(s)));
    const rss = new RssSampler(services);
    const ingestion = services[0]?.url ?? '';
    const auth = `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

    // eventId → its call's due time and phase, until its report is seen.
    const pending = new Map<string, { due: number; phase: Phase }>();
    // Reports seen before their call's answer was read (the answer carries the eventId).
    const seenEarly = new Map<string, number>();
    let inFlight = 0;
    // Reports a settle gave up waiting for: the backlog the next phase runs against.
    let unsettled = 0;

    const joined = new Promise<void>((resolve) => reports.on(reports.events.GROUP_JOIN, () => resolve()));
    await reports.connect();
    await reports.subscribe({ topics: [Topics.ReportsEventCounts], fromBeginning: false });
    await admin.connect();
    // The services consume the shared topics, so other runs' traffic competes with the bench's: counted per phase.
    const trackedRecords = async (): Promise<number> =>
      (await admin.fetchTopicOffsets(Topics.TrackingEvents)).reduce((sum, p) => sum + Number(p.offset), 0);
    await reports.run({
      eachMessage: async ({ message }) => {
        const seen = performance.now();
        const report = (await registry.decode(message.value)) as EventCountReport;
        if (report.metadata.workspaceId !== workspace) return;
        for (const counted of report.eventIds) {
          const call = pending.get(counted);
          if (call === undefined) {
            seenEarly.set(counted, seen);
            continue;
          }
          pending.delete(counted);
          if (!call.phase.closed) call.phase.latencies.push(seen - call.due);
        }
      },
    });
    await joined;

    const fire = (phase: Phase, i: number, due: number): void => {
      inFlight++;
      phase.sent++;
      fetch(`${ingestion}/v1/track`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify({
          userId: `bench-lead-${i % 50}`,
          event: 'Pricing Page Viewed',
          properties: { i },
        }),
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      })
        .then(async (res) => {
          const body = (await res.json().catch(() => ({}))) as { eventId?: unknown };
          if (res.ok && typeof body.eventId === 'string') {
            // Tracked even after the drain window (then no longer counted) so a settle waits for its report too.
            const early = seenEarly.get(body.eventId);
            if (early === undefined) pending.set(body.eventId, { due, phase });
            else {
              seenEarly.delete(body.eventId);
              if (!phase.closed) phase.latencies.push(early - due);
            }
          } else if (!phase.closed) phase.rejected.set(res.status, (phase.rejected.get(res.status) ?? 0) + 1);
          if (!phase.closed) phase.answers.push(performance.now() - due);
        })
        .catch(() => {
          if (!phase.closed) phase.rejected.set(0, (phase.rejected.get(0) ?? 0) + 1);
        })
        .finally(() => inFlight--);
    };

    /** Sends `rate` calls/s for `seconds` open-loop, waits up to `drain` s for their reports, and sums them up. */
    const runPhase = async (
      name: string,
      rate: number,
      seconds: number,
      drain: number,
    ): Promise<PhaseRow> => {
      const phase: Phase = {
        name,
        rate,
        seconds,
        sent: 0,
        late: 0,
        rejected: new Map(),
        latencies: [],
        answers: [],
        closed: false,
      };
      const backlog = unsettled;
      const recordsBefore = await trackedRecords();
      const total = Math.round(rate * seconds);
      const progress = setInterval(() => {
        const seen = phase.latencies.length;
        console.log(
          `  ${name}: sent ${phase.sent}/${total}, seen ${seen}, in flight ${inFlight}, late ${phase.late}`,
        );
      }, 5_000);
      const start = performance.now();
      let i = 0;
      while (i < total) {
        for (const service of services) exitedCheck(service);
        // Fire every call already due (timers are coarser than 1/rate), then sleep until the next one.
        const now = performance.now();
        while (i < total && start + (i * 1000) / rate <= now) {
          const due = start + (i * 1000) / rate;
          if (inFlight >= opts.maxInFlight) break;
          if (performance.now() - due > LATE_MS) phase.late++;
          fire(phase, i, due);
          i++;
        }
        const next = start + (i * 1000) / rate;
        await sleep(inFlight >= opts.maxInFlight ? 1 : Math.max(0, next - performance.now()));
      }
      const deadline = performance.now() + drain * 1000;
      const rejected = (): number => [...phase.rejected.values()].reduce((a, b) => a + b, 0);
      const outstanding = (): number => phase.sent - rejected() - phase.latencies.length;
      while (outstanding() > 0 && performance.now() < deadline) await sleep(50);
      phase.closed = true;
      clearInterval(progress);
      // Beyond every call sent (a 503'd call's event may still land), so a lower bound of others' traffic.
      const others = (await trackedRecords()) - recordsBefore - phase.sent;
      const summary = latencySummary(phase.latencies);
      const lost = phase.sent - phase.latencies.length;
      return {
        phase: name,
        rate,
        seconds,
        sent: phase.sent,
        late: phase.late,
        lost,
        rejected: [...phase.rejected].map(([status, n]) => `${n}×${status || 'none'}`).join(' '),
        p50_ms: summary.p50,
        p99_ms: summary.p99,
        max_ms: summary.max,
        http_p99_ms: latencySummary(phase.answers).p99,
        backlog,
        others: Math.max(0, others),
        ok: lost === 0 && summary.p99 <= opts.p99Ms,
      };
    };

    /** Lets the services work off an earlier phase's backlog so it does not count against the next one. */
    const settle = async (cap: number): Promise<void> => {
      const deadline = performance.now() + cap * 1000;
      while ((pending.size > 0 || inFlight > 0) && performance.now() < deadline) await sleep(100);
      if (pending.size > 0 || inFlight > 0)
        console.log(
          `  backlog not cleared in ${cap.toFixed(0)} s: ${pending.size} reports, ${inFlight} calls pending`,
        );
      unsettled = pending.size;
      pending.clear();
      seenEarly.clear();
      await sleep(1_000);
    };

    const rows: PhaseRow[] = [];
    const show = (row: PhaseRow): void => {
      console.log(
        `${row.phase} ${row.rate}/s × ${row.seconds} s: sent ${row.sent}, late ${row.late}, lost ${row.lost}, ` +
          `p50 ${row.p50_ms} ms, p99 ${row.p99_ms} ms, HTTP p99 ${row.http_p99_ms} ms, non-2xx ${row.rejected || 0}, ` +
          `earlier backlog ${row.backlog}, others' records ${row.others} → ${row.ok ? 'pass' : 'fail'}`,
      );
    };
    if (opts.warmup > 0) {
      console.log(`warm-up: ${opts.rate}/s for ${opts.warmup} s (not counted)`);
      const warm = await runPhase('warm-up', opts.rate, opts.warmup, opts.probeDrain);
      show(warm);
      await settle(opts.settle);
    }
    console.log(`measured: ${opts.rate}/s for ${opts.seconds} s, drain ${opts.drain} s`);
    const cpuBefore = await Promise.all(services.map((s) => cpuSeconds(s.child.pid)));
    const measuredFrom = performance.now();
    const measured = await runPhase('measured', opts.rate, opts.seconds, opts.drain);
    // The drain is in the window: CPU spent finishing the measured calls belongs to them.
    const cpu = cpuShares(
      services,
      cpuBefore,
      await Promise.all(services.map((s) => cpuSeconds(s.child.pid))),
      measured.sent,
      (performance.now() - measuredFrom) / 1000,
    );
    show(measured);
    rows.push(measured);

    let maxRate: number | undefined;
    if (opts.search) {
      const probes: RateProbe[] = [{ rate: measured.rate, ok: measured.ok }];
      const bounds = { minRate: 5, maxRate: opts.rate * 8, resolution: 0.1 };
      for (
        let next = nextProbeRate(probes, bounds);
        next !== undefined;
        next = nextProbeRate(probes, bounds)
      ) {
        // A probe needs its send time and drain; settling gets what is left of the budget, up to --settle.
        const left =
          opts.budget - (performance.now() - begun) / 1000 - (opts.probeSeconds + opts.probeDrain + 2);
        if (left < 5) {
          console.log(`search stopped: a probe at ${next}/s could overrun the ${opts.budget} s budget`);
          break;
        }
        await settle(Math.min(opts.settle, left));
        console.log(`probe: ${next}/s for ${opts.probeSeconds} s`);
        const row = await runPhase('probe', next, opts.probeSeconds, opts.probeDrain);
        show(row);
        rows.push(row);
        probes.push({ rate: next, ok: row.ok });
      }
      maxRate = highestPassingRate(probes);
    }
    const memory = await rss.stop();

    console.log(
      `\nHTTP track → reporting read model, open loop, latency from each call's due time ` +
        `(p99 bound ${opts.p99Ms} ms, lost = non-2xx or no report within the drain window):`,
    );
    console.table(rows);
    printRss(memory, mode);
    console.log(`\nCPU per tracked call in the measured phase (${measured.sent} calls; from /proc):`);
    console.table(
      Object.fromEntries(
        cpu.map((c) => [
          c.service,
          { 'CPU s': c.cpuSeconds, cores: c.cores, 'µs a call': c.usPerUnit, 'calls/s a core': c.perCore },
        ]),
      ),
    );
    console.log(
      resultLine('e2e', {
        rate: opts.rate,
        p50_ms: measured.p50_ms,
        p99_ms: measured.p99_ms,
        lost: measured.lost,
        max_rate_p99_1s: maxRate,
        ...Object.fromEntries(cpu.map((c) => [`cpu_us_per_call_${c.service}`, c.usPerUnit])),
        ...rssResult(memory, mode),
      }),
    );
  } finally {
    await reports.disconnect();
    await admin.disconnect();
    await Promise.all(services.map((s) => stopService(s)));
  }
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
