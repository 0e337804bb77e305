// Programmatic API of the local stack (Kafka, Apicurio Registry, PostgreSQL, FerretDB): the CLI and the dev/test
// drivers call these in-process. Processes run detached in their own process groups and outlive the caller; pid
// files under <stackDir>/run let any later call find and stop them.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeProblems, type ComponentDef, type Preflight } from './component';
import {
  COMPONENTS,
  loadConfig,
  stackComponents,
  stackEndpointsFor,
  stackPaths,
  type ComponentName,
  type StackConfig,
  type StackEndpoints,
} from './config';
import { StackError, errorMessage } from './errors';
import { kafka } from './kafka';
import { mongo } from './mongo';
import { postgres, postgresPlace, removeOutsidePostgres } from './postgres';
import { createReporter, silentReporter, type Reporter, type Task } from './progress';
import { registry } from './registry';
import { formatTable } from './render';
import {
  isAlive,
  isPortFree,
  listPids,
  portOwner,
  readCmdline,
  removeTree,
  sleep,
  tailFile,
  terminate,
  type TerminateOptions,
} from './system';

export type { ComponentName, StackConfig, StackEndpoints } from './config';
export { loadConfig } from './config';
export { StackError } from './errors';
export { createReporter, lineReporter, silentReporter, type Reporter } from './progress';

export const COMPONENT_DEFS: Readonly<Record<ComponentName, ComponentDef>> = {
  kafka,
  registry,
  postgres,
  mongo,
};

export type ComponentState = 'up' | 'unhealthy' | 'down';

export interface ComponentStatus {
  name: ComponentName;
  title: string;
  state: ComponentState;
  pid?: number;
  address: string;
  version: string;
  logFile: string;
  /** Why it is unhealthy. */
  detail?: string;
}

export interface StackStatus {
  /** Every component running and healthy. */
  up: boolean;
  components: ComponentStatus[];
  endpoints: StackEndpoints;
  stackDir: string;
  /** PostgreSQL's data dir when it is outside the stack dir (its server user cannot enter the checkout). */
  postgresData?: string;
}

export interface StackOptions {
  /** Default: loadConfig() from process.env. */
  config?: StackConfig;
  /** Where progress and results go. Default: progress on stderr, results on stdout. */
  reporter?: Reporter;
  /** No output at all (overrides reporter). */
  quiet?: boolean;
}

/** What a component's pid file sidecar records about the running process. */
interface RunState {
  pid: number;
  version: string;
  address: string;
  startedAt: string;
}

const LOG_ROTATE_BYTES = 50 * 1024 * 1024;

function reporterFor(options: StackOptions): Reporter {
  if (options.quiet) return silentReporter;
  return options.reporter ?? createReporter();
}

export function stackEndpoints(config: StackConfig = loadConfig()): StackEndpoints {
  return stackEndpointsFor(config);
}

// ---------------------------------------------------------------------------------------------------------
// Finding our processes

function readPidFile(config: StackConfig, name: ComponentName): number | undefined {
  try {
    const pid = Number(fs.readFileSync(stackPaths(config).pidFile(name), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function readRunState(config: StackConfig, name: ComponentName): RunState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stackPaths(config).stateFile(name), 'utf8')) as RunState;
  } catch {
    return undefined;
  }
}

function writePidFiles(config: StackConfig, name: ComponentName, pid: number): void {
  const paths = stackPaths(config);
  fs.mkdirSync(paths.runDir, { recursive: true });
  fs.writeFileSync(paths.pidFile(name), `${pid}\n`);
  const state: RunState = {
    pid,
    version: COMPONENT_DEFS[name].version(config),
    address: COMPONENT_DEFS[name].address(config),
    startedAt: new Date().toISOString(),
  };
  fs.writeFileSync(paths.stateFile(name), `${JSON.stringify(state, null, 2)}\n`);
}

function clearPidFiles(config: StackConfig, name: ComponentName): void {
  const paths = stackPaths(config);
  fs.rmSync(paths.pidFile(name), { force: true });
  fs.rmSync(paths.stateFile(name), { force: true });
}

interface Located {
  pid?: number;
  /** A pid file whose process is gone (or is now some other program). */
  stalePid?: number;
  /** Found by scanning /proc although the pid file was missing or stale. */
  adopted?: boolean;
}

/** Our process for a component: the pid file if it still names our process, else a /proc scan by command line. */
function locate(config: StackConfig, name: ComponentName): Located {
  const def = COMPONENT_DEFS[name];
  const ours = (pid: number) => isAlive(pid) && def.isOurs(readCmdline(pid) ?? [], config);
  const fromFile = readPidFile(config, name);
  if (fromFile !== undefined && ours(fromFile)) return { pid: fromFile };
  const scanned = listPids().find((pid) => pid !== process.pid && ours(pid));
  return {
    ...(scanned !== undefined ? { pid: scanned, adopted: true } : {}),
    ...(fromFile !== undefined ? { stalePid: fromFile } : {}),
  };
}

function locateAll(config: StackConfig): Record<ComponentName, Located> {
  return {
    kafka: locate(config, 'kafka'),
    registry: locate(config, 'registry'),
    postgres: locate(config, 'postgres'),
    mongo: locate(config, 'mongo'),
  };
}

/**
 * Why a running component is not what the configuration asks for: ports changed since it started, or FerretDB
 * runs on the other backend (its version names the backend).
 */
function addressMismatch(config: StackConfig, name: ComponentName): string | undefined {
  const def = COMPONENT_DEFS[name];
  const state = readRunState(config, name);
  const expected = def.address(config);
  if (state?.address && state.address !== expected) {
    return `${name} runs at ${state.address}, but the environment now says ${expected}`;
  }
  if (name === 'mongo' && state?.version && state.version !== def.version(config)) {
    return `${name} runs ${def.title} ${state.version}, but the environment now says ${def.version(config)}`;
  }
  return undefined;
}

/** undefined when healthy, else the reason. Bounded, whatever the client library does. */
async function probe(
  config: StackConfig,
  name: ComponentName,
  timeoutMs = 5_000,
): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${timeoutMs / 1000} s`), timeoutMs);
  });
  try {
    return await Promise.race([
      COMPONENT_DEFS[name].health(config).then(
        () => undefined,
        (error: unknown) => errorMessage(error) || 'health check failed',
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Status

export async function stackStatus(options: Pick<StackOptions, 'config'> = {}): Promise<StackStatus> {
  const config = options.config ?? loadConfig();
  const paths = stackPaths(config);
  const active = stackComponents(config);
  // A component this configuration does not use is listed only while it still runs (`down` stops it).
  const listed = COMPONENTS.filter((name) => active.includes(name) || locate(config, name).pid !== undefined);
  const components = await Promise.all(
    listed.map(async (name): Promise<ComponentStatus> => {
      const def = COMPONENT_DEFS[name];
      const { pid } = locate(config, name);
      const base = {
        name,
        title: def.title,
        address: def.address(config),
        version: readRunState(config, name)?.version ?? def.version(config),
        logFile: paths.logFile(name),
      };
      if (pid === undefined) return { ...base, state: 'down' };
      const moved = addressMismatch(config, name);
      if (moved) return { ...base, state: 'unhealthy', pid, detail: moved };
      const problem = await probe(config, name);
      return problem === undefined
        ? { ...base, state: 'up', pid }
        : { ...base, state: 'unhealthy', pid, detail: problem };
    }),
  );
  const place = active.includes('postgres') ? postgresPlace(config) : undefined;
  return {
    up: components.every((c) => c.state === 'up' || !active.includes(c.name)),
    components,
    endpoints: stackEndpointsFor(config),
    stackDir: config.stackDir,
    ...(place?.outside && fs.existsSync(place.data) ? { postgresData: place.data } : {}),
  };
}

export function formatStatus(status: StackStatus): string {
  return formatTable(
    ['COMPONENT', 'STATE', 'PID', 'ADDRESS', 'VERSION'],
    status.components.map((c) => [
      c.name,
      c.state,
      c.pid === undefined ? '-' : String(c.pid),
      c.address,
      `${c.title} ${c.version}`,
    ]),
  );
}

export function formatEnv(endpoints: StackEndpoints): string[] {
  return Object.entries(endpoints.env).map(([key, value]) => `export ${key}=${value}`);
}

// ---------------------------------------------------------------------------------------------------------
// Locking: one up/down/reset at a time per stack dir (test drivers may call stackUp concurrently).

let inProcess: Promise<unknown> = Promise.resolve();

async function withLock<T>(config: StackConfig, reporter: Reporter, fn: () => Promise<T>): Promise<T> {
  const run = inProcess.then(
    () => withFileLock(config, reporter, fn),
    () => withFileLock(config, reporter, fn),
  );
  inProcess = run.catch(() => undefined);
  return run;
}

async function withFileLock<T>(config: StackConfig, reporter: Reporter, fn: () => Promise<T>): Promise<T> {
  const { lockFile, runDir } = stackPaths(config);
  const deadline = Date.now() + 20 * 60_000;
  let announced = false;
  for (;;) {
    fs.mkdirSync(runDir, { recursive: true });
    try {
      fs.writeFileSync(lockFile, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let holder = NaN;
    let age = 0;
    try {
      holder = Number(fs.readFileSync(lockFile, 'utf8').trim());
      age = Date.now() - fs.statSync(lockFile).mtimeMs;
    } catch {
      continue; // released meanwhile
    }
    // An empty lock file is one being written right now, unless it has been empty for a while.
    const stale = Number.isInteger(holder) && holder > 0 ? !isAlive(holder) : age > 5_000;
    if (stale) {
      fs.rmSync(lockFile, { force: true });
      continue;
    }
    if (!announced) {
      reporter.info(`waiting for another stack command (pid ${holder}) to finish…`);
      announced = true;
    }
    if (Date.now() > deadline) {
      throw new StackError(
        `another stack command (pid ${holder}) holds ${lockFile}; gave up waiting after 20 min`,
      );
    }
    await sleep(250);
  }
  try {
    return await fn();
  } finally {
    try {
      if (fs.readFileSync(lockFile, 'utf8').trim() === String(process.pid))
        fs.rmSync(lockFile, { force: true });
    } catch {
      // reset removed the whole directory
    }
  }
}

/** Creates the stack dir, refusing to take over a directory that is not one (reset deletes it recursively). */
function ensureStackDir(config: StackConfig): void {
  const paths = stackPaths(config);
  if (fs.existsSync(paths.dir) && !fs.existsSync(paths.marker) && fs.readdirSync(paths.dir).length > 0) {
    throw new StackError(
      `${paths.dir} exists and is not a Tributary stack directory (no ${path.basename(paths.marker)}); ` +
        'point TRIBUTARY_STACK_DIR at a new or empty directory',
    );
  }
  fs.mkdirSync(paths.dir, { recursive: true });
  if (!fs.existsSync(paths.marker)) {
    fs.writeFileSync(
      paths.marker,
      'Runtime data of `npm run stack` (tools/stack). `npm run stack -- reset` deletes it.\n',
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// up

export interface StackUpResult extends StackStatus {
  /** Wall time of this call. */
  elapsedMs: number;
  /** What this call started (empty when the stack was already up). */
  started: ComponentName[];
}

export async function stackUp(options: StackOptions = {}): Promise<StackUpResult> {
  const startedAt = performance.now();
  const config = options.config ?? loadConfig();
  const reporter = reporterFor(options);
  ensureStackDir(config);
  return withLock(config, reporter, async () => {
    const started = await upLocked(config, reporter);
    const status = await stackStatus({ config });
    const elapsedMs = performance.now() - startedAt;
    if (started.length === 0 && status.up) reporter.info('stack is already up');
    printSummary(reporter, status);
    reporter.out(`stack up in ${(elapsedMs / 1000).toFixed(1)} s`);
    if (!status.up) {
      const bad = status.components.filter((c) => c.state !== 'up');
      throw new StackError(
        `stack is not healthy: ${bad.map((c) => `${c.name} ${c.state}${c.detail ? ` (${c.detail})` : ''}`).join(', ')}`,
      );
    }
    return { ...status, elapsedMs, started };
  });
}

function printSummary(reporter: Reporter, status: StackStatus): void {
  reporter.out('');
  for (const line of formatStatus(status).split('\n')) reporter.out(line);
  reporter.out('');
  if (status.postgresData) reporter.out(`PostgreSQL data (outside the stack dir): ${status.postgresData}\n`);
  for (const line of formatEnv(status.endpoints)) reporter.out(line);
  reporter.out('');
}

/** Marks a promise as handled now (its rejection is still seen by whoever awaits it later). */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

async function upLocked(config: StackConfig, reporter: Reporter): Promise<ComponentName[]> {
  const located = locateAll(config);
  const active = stackComponents(config);
  const running = active.filter((name) => located[name].pid !== undefined);

  for (const name of active) {
    const { pid, stalePid, adopted } = located[name];
    if (pid !== undefined && adopted) {
      reporter.info(`found ${name} running as pid ${pid} without a pid file; adopting it`);
      writePidFiles(config, name, pid);
    } else if (pid === undefined && stalePid !== undefined) {
      reporter.info(`removing stale pid file of ${name} (pid ${stalePid} is not running)`);
      clearPidFiles(config, name);
    }
  }

  // Processes started with other ports would never turn healthy at the configured address (nor would FerretDB
  // on the other backend see the data this configuration expects).
  const moved = running.flatMap((name) => addressMismatch(config, name) ?? []);
  if (moved.length > 0) {
    throw new StackError('the running stack does not match the configuration:', [
      ...moved.map((m) => `  - ${m}`),
      'stop it first (`npm run stack -- down` finds it by pid), then run `up` again',
    ]);
  }

  // Fast path: everything already running and healthy.
  if (running.length === active.length) {
    const problems = await Promise.all(active.map((name) => probe(config, name)));
    if (problems.every((p) => p === undefined)) return [];
  }

  const toStart = active.filter((name) => located[name].pid === undefined);
  for (const name of running) reporter.info(`${name} is already running (pid ${located[name].pid})`);

  const preflights = new Map<ComponentName, Preflight>();
  await Promise.all(
    toStart.map(async (name) => preflights.set(name, await COMPONENT_DEFS[name].preflight(config))),
  );
  const problems = describeProblems(toStart.flatMap((name) => preflights.get(name) ?? []));
  if (problems.length > 0) {
    throw new StackError(
      'cannot start the stack:',
      problems.map((p) => `  - ${p}`),
    );
  }
  await assertPortsFree(config, toStart);

  // A failure kills in-flight downloads/builds instead of letting them run on after we exit; components that
  // are already starting may finish, so a rerun of `up` has less to do.
  const abort = new AbortController();
  // The first rejection is the cause; later ones are its echoes (dependent steps, killed builds).
  let firstError: unknown;
  const step = <T>(promise: Promise<T>): Promise<T> =>
    handled(
      promise.catch((error: unknown) => {
        if (!abort.signal.aborted) firstError = error;
        abort.abort();
        throw error;
      }),
    );

  const provision = (name: ComponentName): Promise<void> => {
    const def = COMPONENT_DEFS[name];
    if (!toStart.includes(name) || def.isProvisioned(config)) return Promise.resolve();
    const what = name === 'mongo' ? 'build' : 'download';
    return reporter.task(`${what} ${def.title} ${def.version(config)}`, (task) =>
      def.provision(config, task, abort.signal),
    );
  };
  const bringUp = async (name: ComponentName): Promise<void> => {
    if (!active.includes(name)) return;
    const def = COMPONENT_DEFS[name];
    const pid = located[name].pid;
    if (pid !== undefined) {
      // Running but not healthy (yet): most likely still starting from an earlier, interrupted `up`.
      if ((await probe(config, name)) === undefined) return;
      await reporter.task(`wait for ${def.title} (already running, pid ${pid})`, (task) =>
        waitHealthy(config, name, pid, task),
      );
      return;
    }
    await reporter.task(`start ${def.title} ${def.version(config)}`, (task) =>
      startComponent(config, name, preflights.get(name) ?? { problems: [], missing: [] }, task),
    );
  };

  // Kafka and the registry both download with mvn: run those one after the other (a shared ~/.m2 is not
  // safe for concurrent writers); the FerretDB build runs alongside. Start order: Kafka, then the registry
  // alongside PostgreSQL (nothing to download: Debian's package), then FerretDB on top of PostgreSQL.
  const kafkaJars = step(provision('kafka'));
  const registryDist = step(kafkaJars.then(() => provision('registry')));
  const ferretBinary = step(provision('mongo'));
  const kafkaUp = step(kafkaJars.then(() => bringUp('kafka')));
  const registryUp = step(Promise.all([kafkaUp, registryDist]).then(() => bringUp('registry')));
  const postgresUp = step(kafkaUp.then(() => bringUp('postgres')));
  const mongoUp = step(Promise.all([postgresUp, ferretBinary]).then(() => bringUp('mongo')));

  const results = await Promise.allSettled([
    kafkaJars,
    registryDist,
    ferretBinary,
    kafkaUp,
    registryUp,
    postgresUp,
    mongoUp,
  ]);
  if (results.some((r) => r.status === 'rejected')) {
    const alive = COMPONENTS.filter((name) => locate(config, name).pid !== undefined);
    const reason = firstError instanceof Error ? firstError : new Error(String(firstError));
    if (alive.length > 0 && reason instanceof StackError) {
      throw reason.withDetails([
        `(still running: ${alive.join(', ')}; fix the problem and run \`npm run stack -- up\` again, ` +
          'or stop them with `npm run stack -- down`)',
      ]);
    }
    throw reason;
  }
  return toStart;
}

async function assertPortsFree(config: StackConfig, names: readonly ComponentName[]): Promise<void> {
  const conflicts: string[] = [];
  for (const name of names) {
    for (const spec of COMPONENT_DEFS[name].ports(config)) {
      if (await isPortFree(spec.port, config.host)) continue;
      const owner = portOwner(spec.port);
      let who = 'another process';
      if (owner) {
        const otherStack = owner.cmdline.find((arg) => arg.startsWith('-Dtributary.stack='));
        const command = owner.cmdline.join(' ');
        who = `pid ${owner.pid} (${command.length > 120 ? `${command.slice(0, 117)}...` : command})`;
        if (otherStack) who += `, a Tributary stack in ${otherStack.slice('-Dtributary.stack='.length)}`;
      }
      conflicts.push(
        `  - port ${spec.port} (${spec.purpose}) is already in use by ${who}: stop it, or pick another port ` +
          `with ${spec.envVar}=<port>`,
      );
    }
  }
  if (conflicts.length > 0) throw new StackError('cannot start the stack: ports already taken', conflicts);
}

function rotateLog(file: string): void {
  try {
    if (fs.statSync(file).size > LOG_ROTATE_BYTES) fs.renameSync(file, `${file}.1`);
  } catch {
    // no log yet
  }
}

async function startComponent(
  config: StackConfig,
  name: ComponentName,
  preflight: Preflight,
  task: Task,
): Promise<void> {
  const def = COMPONENT_DEFS[name];
  const paths = stackPaths(config);
  const logFile = paths.logFile(name);
  fs.mkdirSync(paths.logsDir, { recursive: true });
  rotateLog(logFile);
  fs.appendFileSync(
    logFile,
    `\n[tributary stack] ${new Date().toISOString()} starting ${def.title} ${def.version(config)}\n`,
  );

  const spec = await def.prepare(config, preflight, task);
  fs.appendFileSync(logFile, `[tributary stack] $ ${[spec.command, ...spec.args].join(' ')}\n`);
  const out = fs.openSync(logFile, 'a');
  let exit: string | undefined;
  let pid: number;
  try {
    // Own process group (detached): it outlives this process, and `down` can signal the whole group.
    // The log file is opened here and handed over as a descriptor, so a server running as another user
    // (PostgreSQL as `postgres` under root) writes to it without owning the logs dir.
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env,
      detached: true,
      stdio: ['ignore', out, out],
      ...(spec.user ? { uid: spec.user.uid, gid: spec.user.gid } : {}),
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error) => reject(new StackError(`cannot start ${def.title}: ${error.message}`)));
    });
    child.once('exit', (code, sig) => {
      exit = sig ? `killed by ${sig}` : `exit code ${code}`;
    });
    child.unref();
    if (child.pid === undefined) throw new StackError(`cannot start ${def.title}: no pid`);
    pid = child.pid;
  } finally {
    fs.closeSync(out);
  }
  writePidFiles(config, name, pid);
  task.note(`pid ${pid}, waiting until healthy`);
  try {
    await waitHealthy(config, name, pid, task, () => exit);
  } catch (error) {
    // Do not leave a half-started process behind.
    if (isAlive(pid)) await terminate(pid, def.stopGraceMs, stopOptions(def)).catch(() => undefined);
    clearPidFiles(config, name);
    throw error;
  }
}

async function waitHealthy(
  config: StackConfig,
  name: ComponentName,
  pid: number,
  task: Task,
  exitInfo: () => string | undefined = () => undefined,
): Promise<void> {
  const def = COMPONENT_DEFS[name];
  const timeoutMs = config.startTimeoutMs ?? def.startTimeoutMs;
  const deadline = Date.now() + timeoutMs;
  const logFile = stackPaths(config).logFile(name);
  const failure = (reason: string) =>
    new StackError(`${def.title} ${reason}; log: ${logFile} (last 20 lines below)`, [
      ...tailFile(logFile, 20).map((line) => `  | ${line}`),
    ]);
  for (;;) {
    if (!isAlive(pid)) {
      await sleep(200); // let the child's 'exit' event (with the exit code) arrive
      const exit = exitInfo();
      throw failure(`exited during startup${exit ? ` (${exit})` : ''}`);
    }
    const problem = await probe(config, name, 5_000);
    if (problem === undefined) return;
    if (Date.now() >= deadline) {
      throw failure(
        `did not become healthy within ${Math.round(timeoutMs / 1000)} s (last check: ${problem})`,
      );
    }
    task.note(`pid ${pid}, not ready yet: ${problem.split('\n')[0]?.slice(0, 120) ?? ''}`);
    await sleep(500);
  }
}

// ---------------------------------------------------------------------------------------------------------
// down / reset

function stopOptions(def: ComponentDef): TerminateOptions {
  return def.stopSignal ? { signal: def.stopSignal, leaderOnly: true } : {};
}

export async function stackDown(options: StackOptions = {}): Promise<ComponentName[]> {
  const config = options.config ?? loadConfig();
  const reporter = reporterFor(options);
  const run = () => downLocked(config, reporter);
  // No stack dir: nothing to lock, but a /proc scan still finds processes whose directory was deleted.
  return fs.existsSync(stackPaths(config).dir) ? withLock(config, reporter, run) : run();
}

async function downLocked(config: StackConfig, reporter: Reporter): Promise<ComponentName[]> {
  const located = locateAll(config);
  const stopped: ComponentName[] = [];
  const stop = async (name: ComponentName) => {
    const { pid, stalePid } = located[name];
    if (pid === undefined) {
      if (stalePid !== undefined) clearPidFiles(config, name);
      return;
    }
    const def = COMPONENT_DEFS[name];
    const how = await reporter.task(`stop ${def.title} (pid ${pid})`, () =>
      terminate(pid, def.stopGraceMs, stopOptions(def)),
    );
    if (how === 'killed') {
      reporter.info(
        `${def.title} ignored ${def.stopSignal ?? 'SIGTERM'} for ${def.stopGraceMs / 1000} s: killed`,
      );
    }
    if (fs.existsSync(stackPaths(config).runDir)) clearPidFiles(config, name);
    stopped.push(name);
  };
  // Clients first, so they do not log a storm of connection errors while their server goes away: FerretDB
  // before PostgreSQL, the registry (and that chain) before Kafka. Whatever the backend: a PostgreSQL left
  // from an earlier configuration is stopped too.
  await Promise.all([stop('registry'), stop('mongo').then(() => stop('postgres'))]);
  await stop('kafka');
  if (stopped.length === 0) reporter.info('stack is not running');
  return stopped;
}

/** down, then delete the stack dir (data, logs, pid files). The download cache stays. */
export async function stackReset(options: StackOptions = {}): Promise<void> {
  const config = options.config ?? loadConfig();
  const reporter = reporterFor(options);
  const paths = stackPaths(config);
  if (!fs.existsSync(paths.dir)) {
    await downLocked(config, reporter);
    // The stack dir went without `reset` (deleted by hand): its PostgreSQL outside may still be there.
    const outside = removeOutsidePostgres(config);
    if (outside) reporter.info(`deleted this stack's PostgreSQL data in ${outside}`);
    else reporter.info(`nothing to delete: ${paths.dir} does not exist`);
    return;
  }
  if (!fs.existsSync(paths.marker)) {
    throw new StackError(
      `refusing to delete ${paths.dir}: it has no ${path.basename(paths.marker)}, so it is not a stack directory`,
    );
  }
  await withLock(config, reporter, async () => {
    await downLocked(config, reporter);
    const outside = removeOutsidePostgres(config);
    if (outside) reporter.info(`deleted this stack's PostgreSQL data in ${outside}`);
    await reporter.task(`delete ${paths.dir}`, async () => removeTree(paths.dir));
  });
}
