/**
 * What the benches need to run services as production runs them (the Dockerfile: `npx nx build <svc>`, then
 * `node dist/apps/<svc>/apps/<svc>/src/main.js` with NODE_ENV=production): a fresh build, the settings production
 * insists on, and their processes' resident memory while the load runs.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { load } from 'js-yaml';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { productionEntry, type RunningProcess, type ServiceMode } from '@tributary/testing';

const root = join(__dirname, '..', '..');

/** The bench flag that keeps the old way (TypeScript through SWC, as `npm start` runs services). */
export const DEV_FLAG = '--dev';
export const DEV_FLAG_HELP =
  'run the services as TypeScript through SWC (as npm start does) instead of compiled with NODE_ENV=production';

export function benchMode(dev: boolean | undefined): ServiceMode {
  return dev === true ? 'ts' : 'production';
}

/** Written after a successful build, dated when it started: an edit made while tsc ran still counts as newer. */
function stampFile(name: string): string {
  return join(root, 'dist', 'apps', name, '.bench-built');
}

function newestMtime(dir: string): number {
  if (!existsSync(dir)) return 0;
  let newest = 0;
  for (const file of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (!/\.(ts|json)$/.test(file) || file.endsWith('.spec.ts')) continue;
    newest = Math.max(newest, statSync(join(dir, file)).mtimeMs);
  }
  return newest;
}

/** Why a service's dist needs building, or undefined when it is newer than everything it is compiled from. */
export function buildReason(name: string): string | undefined {
  const stamp = stampFile(name);
  if (!existsSync(productionEntry(name))) return 'not built';
  if (!existsSync(stamp)) return 'built outside the benches, so maybe stale';
  const builtAt = statSync(stamp).mtimeMs;
  // All libs, not only the ones the service imports: a needless rebuild costs seconds, a stale one a wrong figure.
  const libs = join(root, 'libs');
  const sources = [
    join(root, 'apps', name, 'src'),
    ...readdirSync(libs).map((lib) => join(libs, lib, 'src')),
  ];
  const configs = [join(root, 'tsconfig.base.json'), join(root, 'apps', name, 'tsconfig.app.json')];
  const newest = Math.max(
    ...sources.map(newestMtime),
    ...configs.map((f) => (existsSync(f) ? statSync(f).mtimeMs : 0)),
  );
  return newest > builtAt ? 'sources changed since the last build' : undefined;
}

/** Builds (`nx run-many -t build`) the services whose dist is missing or older than their sources; throws if it fails. */
/** The bench measures the pipeline, not the edge's per-credential allowances (50 requests/s by default). */
export const UNLIMITED_EDGE: Readonly<Record<string, string>> = {
  RATE_LIMIT_PER_SECOND: '1000000',
  RATE_LIMIT_BURST: '1000000',
  RATE_LIMIT_WORKSPACE_PER_SECOND: '1000000',
  RATE_LIMIT_WORKSPACE_BURST: '1000000',
  RATE_LIMIT_EVENTS_PER_SECOND: '100000000',
  RATE_LIMIT_EVENTS_BURST: '100000000',
  RATE_LIMIT_BYTES_PER_SECOND: '100000000000',
  RATE_LIMIT_BYTES_BURST: '100000000000',
};

export function ensureBuilt(names: readonly string[]): void {
  const stale = names.flatMap((name) => {
    const reason = buildReason(name);
    return reason === undefined ? [] : [{ name, reason }];
  });
  if (stale.length === 0) {
    console.log(`compiled services up to date: ${names.join(', ')}`);
    return;
  }
  for (const { name, reason } of stale) console.log(`building ${name} (${reason})`);
  const startedAt = new Date();
  const projects = stale.map((s) => s.name).join(',');
  // Skip Nx's cache: a restored output keeps its old mtime and the next run would build again anyway.
  const result = spawnSync(
    'npx',
    [
      'nx',
      'run-many',
      '-t',
      'build',
      '-p',
      projects,
      '--skip-nx-cache',
      '--parallel=2',
      '--outputStyle=static',
    ],
    { cwd: root, stdio: 'inherit', env: { ...process.env, NX_DAEMON: 'false' } },
  );
  if (result.status !== 0)
    throw new Error(
      `npx nx run-many -t build -p ${projects} failed (exit ${result.status ?? result.signal})`,
    );
  for (const { name } of stale) {
    const stamp = stampFile(name);
    if (!existsSync(dirname(stamp))) throw new Error(`${name} built, but ${dirname(stamp)} is missing`);
    writeFileSync(stamp, `built by tools/bench at ${startedAt.toISOString()}\n`);
    utimesSync(stamp, startedAt, startedAt);
  }
}

/**
 * Fails when a port is taken: waitReady would take another run's service answering there for ours, and the bench
 * would load and measure that one (two benches on one machine share the default ports).
 */
export async function assertPortsFree(ports: readonly number[]): Promise<void> {
  for (const port of ports)
    await new Promise<void>((resolve, reject) => {
      const probe = createServer();
      probe.once('error', () =>
        reject(new Error(`port ${port} is in use (another bench running?); pick other ports`)),
      );
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
    });
}

/** A Kubernetes memory quantity (`512Mi`, `1Gi`, `536870912`) in MiB. */
export function quantityMib(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?$/.exec(quantity.trim());
  if (!match) throw new Error(`not a memory quantity: ${quantity}`);
  const factor = { Ki: 1 / 1024, Mi: 1, Gi: 1024, K: 1e3 / 2 ** 20, M: 1e6 / 2 ** 20, G: 1e9 / 2 ** 20 };
  const unit = match[2] as keyof typeof factor | undefined;
  return Number(match[1]) * (unit === undefined ? 1 / 2 ** 20 : factor[unit]);
}

const CHART_VALUES = join(root, 'deploy', 'helm', 'tributary', 'values.yaml');

interface ChartValues {
  config?: Record<string, string>;
  services?: Record<string, { env?: Record<string, string>; resources?: { limits?: { memory?: string } } }>;
}

function chartValues(valuesFile: string): ChartValues {
  return load(readFileSync(valuesFile, 'utf8')) as ChartValues;
}

/**
 * The settings the chart gives one service's pod of its own (`services.<name>.env`, e.g. leads' fetch bound), for
 * production-mode benches; NODE_OPTIONS goes through `podNodeArgs`. A variable set in the bench's own environment
 * wins, so `CONSUMER_MAX_BYTES=… npm run bench:leads` still tries another value.
 */
export function podEnv(
  service: string,
  mode: ServiceMode,
  valuesFile = CHART_VALUES,
): Record<string, string> {
  if (mode !== 'production') return {};
  const env = chartValues(valuesFile).services?.[service]?.env ?? {};
  return Object.fromEntries(
    Object.entries(env).filter(([key]) => key !== 'NODE_OPTIONS' && process.env[key] === undefined),
  );
}

/**
 * The Node flags a service runs with in its pod, from the chart: NODE_OPTIONS (the service's env over the shared
 * config), else the heap V8 would pick there, half the container's memory limit. On a bench machine V8 sees all of
 * its memory (24 GB → a 4 GB old space) and lets garbage pile up far beyond what a pod would, so production-mode
 * benches pass these explicitly; BENCH_NODE_ARGS, placed after them, can still override.
 */
export function podNodeArgs(service: string, mode: ServiceMode, valuesFile = CHART_VALUES): string[] {
  if (mode !== 'production') return [];
  const values = chartValues(valuesFile);
  const pod = values.services?.[service];
  const nodeOptions = pod?.env?.['NODE_OPTIONS'] ?? values.config?.['NODE_OPTIONS'];
  if (nodeOptions !== undefined) return nodeOptions.split(' ').filter(Boolean);
  const limit = pod?.resources?.limits?.memory;
  if (limit === undefined)
    throw new Error(`${valuesFile} gives ${service} neither NODE_OPTIONS nor a memory limit`);
  return [`--max-old-space-size=${Math.floor(quantityMib(limit) / 2)}`];
}

/**
 * Per-run settings production refuses to start without (ingestion's admin token, orchestration's unsubscribe-link
 * key), and the C
 * library's settings the container image gives every service (`MALLOC_*` in the Dockerfile's runtime `ENV`).
 */
export function productionEnv(
  mode: ServiceMode,
  dockerfile = join(root, 'Dockerfile'),
): Record<string, string> {
  if (mode !== 'production') return {};
  return {
    ...imageMallocEnv(dockerfile),
    ADMIN_TOKEN: randomBytes(24).toString('hex'),
    UNSUBSCRIBE_SECRET: randomBytes(24).toString('hex'),
    CONTENT_SECRETS_KEY: randomBytes(32).toString('hex'),
    SYNC_CREDENTIALS_KEYS: `bench:${randomBytes(32).toString('hex')}`,
  };
}

/** `MALLOC_*` settings of the image's runtime stage (the Dockerfile's last stage), e.g. the mmap threshold. */
export function imageMallocEnv(dockerfile: string): Record<string, string> {
  const text = readFileSync(dockerfile, 'utf8').replace(/\\\n/g, ' ');
  const runtime = text.slice(text.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const match of runtime.matchAll(/\b(MALLOC_[A-Z_]+)=(\S+)/g)) {
    if (match[1] !== undefined && match[2] !== undefined) env[match[1]] = match[2];
  }
  return env;
}

/** VmRSS from a /proc/<pid>/status text, in KiB; undefined when absent (e.g. a zombie). */
export function vmRssKib(status: string): number | undefined {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

export interface RssStats {
  service: string;
  pid: number;
  samples: number;
  startMib: number;
  maxMib: number;
  endMib: number;
}

const mib = (kib: number): number => Number((kib / 1024).toFixed(1));

/**
 * Samples each service process's resident set size from /proc (Linux) every `intervalMs` until stop(). The child
 * is node itself in both modes, so its RSS is the service's.
 */
export class RssSampler {
  private readonly kib = new Map<string, { pid: number; values: number[] }>();
  private readonly timer: NodeJS.Timeout;
  private sampling: Promise<void> = Promise.resolve();

  constructor(services: readonly RunningProcess[], intervalMs = 500) {
    for (const s of services)
      if (s.child.pid !== undefined) this.kib.set(s.name, { pid: s.child.pid, values: [] });
    this.sampling = this.sample();
    this.timer = setInterval(() => {
      this.sampling = this.sampling.then(() => this.sample());
    }, intervalMs);
  }

  private async sample(): Promise<void> {
    await Promise.all(
      [...this.kib.values()].map(async (entry) => {
        // A process that exited has no status file any more: its samples end there.
        const status = await readFile(`/proc/${entry.pid}/status`, 'utf8').catch(() => '');
        const kib = vmRssKib(status);
        if (kib !== undefined) entry.values.push(kib);
      }),
    );
  }

  /** Takes a last sample and returns each service's figures, in the order the services were given. */
  async stop(): Promise<RssStats[]> {
    clearInterval(this.timer);
    await this.sampling;
    await this.sample();
    return [...this.kib].map(([service, { pid, values }]) => ({
      service,
      pid,
      samples: values.length,
      startMib: mib(values[0] ?? 0),
      maxMib: mib(Math.max(0, ...values)),
      endMib: mib(values.at(-1) ?? 0),
    }));
  }
}

/** The per-service table the benches print. */
export function printRss(stats: readonly RssStats[], mode: ServiceMode, during = 'the load'): void {
  console.log(`\nresident memory (VmRSS) during ${during}, services ${modeLabel(mode)}:`);
  console.table(
    Object.fromEntries(
      stats.map((s) => [
        s.service,
        { 'start MiB': s.startMib, 'max MiB': s.maxMib, 'end MiB': s.endMib, samples: s.samples },
      ]),
    ),
  );
}

/** The RESULT line's memory fields: the largest RSS over the services, and whose it was. */
export function rssResult(
  stats: readonly RssStats[],
  mode: ServiceMode,
): { mode: string; rss_max_mib: number | undefined; rss_max_service: string | undefined } {
  const top = stats.reduce<RssStats | undefined>(
    (a, b) => (a === undefined || b.maxMib > a.maxMib ? b : a),
    undefined,
  );
  return { mode, rss_max_mib: top?.maxMib, rss_max_service: top?.service };
}

export function modeLabel(mode: ServiceMode): string {
  return mode === 'production' ? 'compiled (dist/, NODE_ENV=production)' : 'TypeScript through SWC (--dev)';
}

/** User + system CPU seconds a process has used so far (Linux /proc; 100 clock ticks a second); 0 once it is gone. */
export async function cpuSeconds(pid: number | undefined): Promise<number> {
  return statOf(await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')).cpuSeconds;
}

/** What a /proc/<pid>/stat line says of a process (CPU in seconds, 100 clock ticks a second). */
export interface ProcessStat {
  /** The executable's name, cut to 15 characters by the kernel. */
  command: string;
  parent: number;
  /** User + system CPU of the process itself. */
  cpuSeconds: number;
  /** User + system CPU of its children that ended and it waited for (a database's closed connections). */
  reapedCpuSeconds: number;
}

function statOf(stat: string): ProcessStat {
  // Fields after the command name, which may hold spaces: ppid is the 2nd, utime and stime the 12th and 13th,
  // cutime and cstime the 14th and 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const seconds = (a: number, b: number) => (Number(fields[a] ?? 0) + Number(fields[b] ?? 0)) / 100;
  return {
    command: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    parent: Number(fields[1] ?? 0),
    cpuSeconds: seconds(11, 12),
    reapedCpuSeconds: seconds(13, 14),
  };
}

/** Every process of the machine now, by pid (Linux /proc); processes that end while it reads are left out. */
export async function processStats(): Promise<Map<number, ProcessStat>> {
  const stats = new Map<number, ProcessStat>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    if (stat !== '') stats.set(Number(entry), statOf(stat));
  }
  return stats;
}

export interface CpuShare {
  service: string;
  cpuSeconds: number;
  /** Cores it kept busy over the window. */
  cores: number;
  /** CPU per unit of work (a tracked call, an event): what capacity planning multiplies by the rate. */
  usPerUnit: number;
  /** Units one core handles at that cost. */
  perCore: number;
}

/** CPU each service used between two `cpuSeconds` snapshots, per unit of work done in `seconds`. */
export function cpuShares(
  services: readonly RunningProcess[],
  before: readonly number[],
  after: readonly number[],
  units: number,
  seconds: number,
): CpuShare[] {
  return services.map((service, i) => {
    const used = (after[i] ?? 0) - (before[i] ?? 0);
    const usPerUnit = (used * 1e6) / Math.max(1, units);
    return {
      service: service.name,
      cpuSeconds: Number(used.toFixed(2)),
      cores: Number((used / Math.max(0.001, seconds)).toFixed(2)),
      usPerUnit: Number(usPerUnit.toFixed(1)),
      perCore: Math.round(1e6 / Math.max(0.001, usPerUnit)),
    };
  });
}

/**
 * CPU seconds used so far by each process under the given roots (the roots included), by pid: a server with its
 * worker processes, a database with its connection backends. Processes that ended meanwhile drop out, so take the
 * difference of two snapshots with `treeCpuUsed`.
 */
export async function treeCpuSnapshot(roots: readonly number[]): Promise<Map<number, number>> {
  const stats = await processStats();
  const parents = new Map([...stats].map(([pid, stat]) => [pid, stat.parent]));
  const cpu = new Map([...stats].map(([pid, stat]) => [pid, stat.cpuSeconds]));
  const inTree = (pid: number): boolean => {
    for (let at: number | undefined = pid, hops = 0; at !== undefined && at > 1 && hops < 64; hops += 1) {
      if (roots.includes(at)) return true;
      at = parents.get(at);
    }
    return false;
  };
  return new Map([...cpu].filter(([pid]) => inTree(pid)));
}

/** CPU seconds a process tree used between two snapshots (processes started in between count whole). */
export function treeCpuUsed(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>): number {
  let used = 0;
  for (const [pid, seconds] of after) used += seconds - (before.get(pid) ?? 0);
  return used;
}

/**
 * Throws when a service process has exited: a bench must not go on measuring a dead service (an out-of-memory crash
 * in a backlog once looked like a stall, with a RESULT line as if the service had merely been slow).
 */
export function exitedCheck(service: RunningProcess): void {
  const { exitCode, signalCode } = service.child;
  if (exitCode !== null || signalCode !== null)
    throw new Error(
      `${service.name} exited during the bench (code ${exitCode}, signal ${signalCode}); see ${service.logFile}`,
    );
}
