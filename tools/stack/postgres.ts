// PostgreSQL from Debian's package, as FerretDB's backend: a private cluster in the stack dir, loopback only.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ComponentDef, LaunchSpec, Preflight } from './component';
import { PORT_ENV, stackPaths, type StackConfig } from './config';
import { StackError, errorMessage } from './errors';
import type { Task } from './progress';
import { FERRETDB_DATABASE, POSTGRES_SUPERUSER, renderInitdbArgs, renderPostgresArgs } from './render';
import { assertSuccess, removeTree, runCommand, type RunAs } from './system';

/** Where Debian's postgresql-<major> packages put their binaries. */
export const POSTGRES_LIB_DIR = '/usr/lib/postgresql';

export const POSTGRES_INSTALL_HINT =
  "install Debian's package (as root: `apt-get install -y postgresql`), point TRIBUTARY_POSTGRES_BIN at a " +
  'PostgreSQL bin directory, or keep FerretDB on SQLite with TRIBUTARY_STORE_BACKEND=sqlite';

/** Linux's sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107;

export interface PostgresInstall {
  binDir: string;
  /** Major version, e.g. "15" (what a data directory is tied to). */
  major: string;
}

/**
 * Which installed major to run: the one that initialised the data directory when it is installed (a cluster
 * only opens with its own major), else the newest. `installed` lists majors that have a server binary.
 */
export function choosePostgresMajor(
  installed: readonly string[],
  dataMajor: string | undefined,
): string | undefined {
  if (dataMajor !== undefined) return installed.includes(dataMajor) ? dataMajor : undefined;
  return [...installed].sort((a, b) => Number(b) - Number(a) || b.localeCompare(a))[0];
}

/** Majors under /usr/lib/postgresql whose bin/ has a postgres server binary. */
export function installedPostgresMajors(libDir = POSTGRES_LIB_DIR): string[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(libDir);
  } catch {
    return [];
  }
  return entries.filter(
    (e) => /^\d+(\.\d+)?$/.test(e) && isExecutable(path.join(libDir, e, 'bin', 'postgres')),
  );
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The major that initialised a data directory (its PG_VERSION file), if it was initialised. */
export function dataDirMajor(dataDir: string): string | undefined {
  try {
    return fs.readFileSync(path.join(dataDir, 'PG_VERSION'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The binaries to use, or why there are none. */
export function findPostgres(
  config: StackConfig,
  libDir = POSTGRES_LIB_DIR,
): PostgresInstall | { problem: string } {
  const place = postgresPlace(config);
  // A stale cluster is deleted before initdb: its major does not bind the new one.
  const dataMajor = place.stale ? undefined : dataDirMajor(place.data);
  if (config.postgresBin) {
    if (!isExecutable(path.join(config.postgresBin, 'postgres'))) {
      return { problem: `TRIBUTARY_POSTGRES_BIN=${config.postgresBin} has no postgres server binary` };
    }
    // Debian layout (/usr/lib/postgresql/<major>/bin) tells the major; elsewhere trust the caller.
    const major = /(?:^|\/)(\d+(?:\.\d+)?)\/bin\/?$/.exec(config.postgresBin)?.[1] ?? dataMajor ?? 'custom';
    return { binDir: config.postgresBin, major };
  }
  const installed = installedPostgresMajors(libDir);
  const major = choosePostgresMajor(installed, dataMajor);
  if (major !== undefined) return { binDir: path.join(libDir, major, 'bin'), major };
  if (dataMajor !== undefined && installed.length > 0) {
    return {
      problem:
        `${place.data} was initialised by PostgreSQL ${dataMajor}, which is not installed ` +
        `(found ${installed.join(', ')}): install postgresql-${dataMajor}, or start over with ` +
        '`npm run stack -- reset` (deletes the stack data)',
    };
  }
  return {
    problem: `PostgreSQL server not found (no ${libDir}/<major>/bin/postgres): ${POSTGRES_INSTALL_HINT}`,
  };
}

function requirePostgres(config: StackConfig): PostgresInstall {
  const found = findPostgres(config);
  if ('problem' in found) throw new StackError(found.problem);
  return found;
}

/** uid, gid of a user from /etc/passwd text (name:x:uid:gid:...). */
export function parsePasswd(text: string, name: string): RunAs | undefined {
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] !== name || fields.length < 4) continue;
    const uid = Number(fields[2]);
    const gid = Number(fields[3]);
    if (Number.isInteger(uid) && Number.isInteger(gid)) return { name, uid, gid };
  }
  return undefined;
}

/**
 * Who runs initdb and the server: initdb and postgres refuse to run as root, so root runs them as the
 * `postgres` system user (created by Debian's package); anyone else runs them as themselves.
 */
export function postgresUser(
  uid: number | undefined = process.getuid?.(),
  passwd: () => string = () => fs.readFileSync('/etc/passwd', 'utf8'),
): RunAs | undefined | { problem: string } {
  if (uid !== 0) return undefined;
  let text = '';
  try {
    text = passwd();
  } catch {
    // no /etc/passwd: reported below
  }
  return (
    parsePasswd(text, 'postgres') ?? {
      problem: `running as root, but there is no postgres system user to run PostgreSQL as: ${POSTGRES_INSTALL_HINT}`,
    }
  );
}

function requireUser(): RunAs | undefined {
  const user = postgresUser();
  if (user && 'problem' in user) throw new StackError(user.problem);
  return user;
}

/** The socket file path PostgreSQL will bind, if it fits in sun_path. */
export function socketPathProblem(socketDir: string, port: number): string | undefined {
  const socket = path.join(socketDir, `.s.PGSQL.${port}`);
  if (Buffer.byteLength(socket) <= MAX_SOCKET_PATH) return undefined;
  return (
    `PostgreSQL's socket path ${socket} is longer than ${MAX_SOCKET_PATH} bytes: ` +
    'point TRIBUTARY_STACK_DIR at a shorter path'
  );
}

/** Directories on the way to `dir` that `user` cannot pass through (it must reach its data and socket dirs). */
export function unreachableDirs(dir: string, user: RunAs): string[] {
  const blocked: string[] = [];
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    try {
      const stat = fs.statSync(current);
      const bits = stat.uid === user.uid ? 0o100 : stat.gid === user.gid ? 0o010 : 0o001;
      if ((stat.mode & bits) === 0) blocked.push(current);
    } catch {
      // not created yet: the stack creates it, searchable
    }
    if (path.dirname(current) === current) break;
  }
  return blocked;
}

/** Where a checkout's PostgreSQL lives when its server user cannot reach the checkout (root's mode-700 home). */
export const OUTSIDE_STACK_ROOT = '/var/lib/tributary';

/** Where the cluster's data and socket live; `outside` is set when they are out of the stack dir. */
export interface PostgresPlace {
  data: string;
  socketDir: string;
  outside?: string;
  /**
   * The place outside holds a cluster this stack dir does not point at: the stack dir was deleted by hand and made
   * again (or the checkout was cloned anew at the same path). `prepare` deletes it before initdb.
   */
  stale?: true;
}

/**
 * Where PostgreSQL keeps its data and socket. In the stack dir when its server user can reach it (or when it runs
 * as the caller); else under OUTSIDE_STACK_ROOT, in a directory named after the stack dir, so a clone in a folder
 * the `postgres` user cannot enter still gets a stack. A cluster already initialised in either place stays there.
 */
export function postgresPlace(
  config: StackConfig,
  /** Who runs the server; null: the caller, who can reach its own stack dir. */
  user: RunAs | null = runAsUser(),
  outsideRoot = OUTSIDE_STACK_ROOT,
): PostgresPlace {
  const paths = stackPaths(config);
  const inside: PostgresPlace = { data: paths.postgresData, socketDir: paths.postgresSocketDir };
  if (!user) return inside;
  const { pointer, ...moved } = outsidePlace(config, outsideRoot);
  const movedInitialised = dataDirMajor(moved.data) !== undefined;
  // A cluster outside is this stack dir's only while the stack dir points at it: a stack dir deleted by hand
  // starts empty again, PostgreSQL included, as it did when the cluster lived inside it.
  if (movedInitialised && fs.existsSync(pointer)) return moved;
  if (dataDirMajor(inside.data) !== undefined) return inside;
  if (unreachableDirs(inside.data, user).length === 0) return inside;
  return movedInitialised ? { ...moved, stale: true } : moved;
}

/** The place outside the stack dir, named after it so that two checkouts never share one. */
function outsidePlace(config: StackConfig, outsideRoot = OUTSIDE_STACK_ROOT) {
  const digest = createHash('sha256').update(path.resolve(config.stackDir)).digest('hex').slice(0, 12);
  const outside = path.join(outsideRoot, `stack-${digest}`);
  return {
    data: path.join(outside, 'data'),
    socketDir: path.join(outside, 'run'),
    outside,
    /** In the stack dir: names the place outside, and makes the cluster there this stack dir's. */
    pointer: path.join(stackPaths(config).dir, 'data', 'postgres.outside'),
  };
}

/** The user PostgreSQL runs as, when that is not the caller; null otherwise or when unknown (preflight says why). */
function runAsUser(): RunAs | null {
  const user = postgresUser();
  return user && !('problem' in user) ? user : null;
}

/**
 * Readies a place outside the stack dir before PostgreSQL starts there: deletes a stale cluster, creates the
 * directory (root's, traversable), and records which stack dir it belongs to, on both sides. Returns what it did,
 * for the log. Nothing to do for a place inside the stack dir.
 */
export function claimOutsidePlace(
  place: PostgresPlace,
  config: StackConfig,
  user: RunAs | undefined,
  outsideRoot = OUTSIDE_STACK_ROOT,
): string[] {
  if (!place.outside) return [];
  const { pointer } = outsidePlace(config, outsideRoot);
  const lines: string[] = [];
  const blocked = user ? unreachableDirs(stackPaths(config).postgresData, user) : [];
  lines.push(
    blocked.length > 0
      ? `the ${user?.name ?? 'postgres'} user cannot enter ${blocked.join(', ')}, so PostgreSQL's data and socket ` +
          `are in ${place.outside} (\`npm run stack -- reset\` deletes them)`
      : `PostgreSQL's data and socket are in ${place.outside}, where an earlier start put them`,
  );
  try {
    if (place.stale) {
      removeTree(place.outside);
      lines.push(`deleted the PostgreSQL data an earlier ${config.stackDir} left in ${place.outside}`);
    }
    fs.mkdirSync(place.outside, { recursive: true, mode: 0o755 });
    fs.writeFileSync(
      path.join(place.outside, 'STACK_DIR'),
      `${path.resolve(config.stackDir)}\n(PostgreSQL of this stack dir; \`npm run stack -- reset\` there deletes it)\n`,
    );
    fs.mkdirSync(path.dirname(pointer), { recursive: true });
    fs.writeFileSync(pointer, `${place.outside}\n`);
  } catch (error) {
    throw new StackError(`cannot keep PostgreSQL's data in ${place.outside}: ${errorMessage(error)}`, [
      ...(blocked.length > 0
        ? [
            `  - or let the ${user?.name ?? 'postgres'} user enter the checkout: chmod o+x ${blocked.join(' ')}`,
          ]
        : []),
      '  - or point TRIBUTARY_STACK_DIR at a folder the PostgreSQL server user can enter',
    ]);
  }
  return lines;
}

/** Deletes a stack's PostgreSQL kept outside its stack dir, if it has one (`reset`). */
export function removeOutsidePostgres(
  config: StackConfig,
  outsideRoot = OUTSIDE_STACK_ROOT,
): string | undefined {
  const { outside, pointer } = outsidePlace(config, outsideRoot);
  fs.rmSync(pointer, { force: true });
  if (!fs.existsSync(outside)) return undefined;
  removeTree(outside);
  return outside;
}

/** Makes a directory the server's own: created if needed, mode 0700, owned by the user it runs as. */
function ownDir(dir: string, user: RunAs | undefined): void {
  // Parents with the default mode: the server user must pass through them.
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  if (user) fs.chownSync(dir, user.uid, user.gid);
}

/** The environment of PostgreSQL's tools: none of the caller's PG* variables (PGDATA, PGPORT...) leak in. */
function pgEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('PG')));
}

function clientArgs(config: StackConfig): string[] {
  return ['-h', config.host, '-p', String(config.ports.postgres), '-U', POSTGRES_SUPERUSER];
}

/** Creates FerretDB's database unless it exists. Connects over TCP (trust on loopback), as any user. */
export async function ensureFerretDatabase(config: StackConfig, task: Task): Promise<void> {
  const { binDir } = requirePostgres(config);
  const logFile = stackPaths(config).logFile('postgres');
  const exists = await runCommand(
    path.join(binDir, 'psql'),
    [
      ...clientArgs(config),
      '-d',
      'postgres',
      '-XtAc',
      `SELECT 1 FROM pg_database WHERE datname = '${FERRETDB_DATABASE}'`,
    ],
    { cwd: config.stackDir, env: pgEnv() },
  );
  assertSuccess(exists, 'checking for the ferretdb database (psql)');
  if (exists.stdout.trim() === '1') return;
  task.note(`createdb ${FERRETDB_DATABASE}`);
  const created = await runCommand(
    path.join(binDir, 'createdb'),
    [...clientArgs(config), FERRETDB_DATABASE],
    {
      cwd: config.stackDir,
      env: pgEnv(),
    },
  );
  fs.appendFileSync(logFile, `[tributary stack] createdb ${FERRETDB_DATABASE}\n${created.output}`);
  assertSuccess(created, `createdb ${FERRETDB_DATABASE}`, logFile);
}

export const postgres: ComponentDef = {
  name: 'postgres',
  title: 'PostgreSQL',
  version(config) {
    const found = findPostgres(config);
    return 'problem' in found ? '(not installed)' : found.major;
  },
  startTimeoutMs: 30_000,
  // Fast shutdown writes a checkpoint first: small here, but give it time before SIGKILL forces recovery.
  stopGraceMs: 30_000,
  // SIGINT is a fast shutdown: the postmaster disconnects clients, stops its children (each in its own process
  // group) and exits last. SIGTERM would be a smart shutdown, which waits for every client to leave.
  stopSignal: 'SIGINT',

  ports: (config) => [
    { port: config.ports.postgres, envVar: PORT_ENV.postgres, purpose: 'PostgreSQL (FerretDB backend)' },
  ],
  address: (config) => `postgres://${POSTGRES_SUPERUSER}@${config.host}:${config.ports.postgres}`,
  isOurs: (cmdline, config) => {
    const data = cmdline.indexOf('-D');
    return (
      path.basename(cmdline[0] ?? '') === 'postgres' &&
      data >= 0 &&
      cmdline[data + 1] === postgresPlace(config).data
    );
  },

  async health(config) {
    const { binDir } = requirePostgres(config);
    const result = await runCommand(
      path.join(binDir, 'pg_isready'),
      [...clientArgs(config), '-d', 'postgres', '-t', '3'],
      { cwd: config.stackDir, env: pgEnv() },
    );
    // 0 accepting, 1 rejecting (starting up or shutting down), 2 no answer, 3 bad invocation.
    if (result.code !== 0) throw new Error(result.output.trim() || `pg_isready exited with ${result.code}`);
  },

  async preflight(config): Promise<Preflight> {
    const problems: string[] = [];
    const found = findPostgres(config);
    if ('problem' in found) problems.push(found.problem);
    const user = postgresUser();
    if (user && 'problem' in user) problems.push(user.problem);
    const place = postgresPlace(config);
    const socket = socketPathProblem(place.socketDir, config.ports.postgres);
    if (socket) problems.push(socket);
    if (user && !('problem' in user)) {
      // Only a cluster initialised here before can be out of reach: a new one goes outside the stack dir.
      const blocked = unreachableDirs(place.data, user);
      if (blocked.length > 0) {
        problems.push(
          `PostgreSQL runs as the ${user.name} user, who cannot enter ${blocked.join(', ')}: ` +
            `chmod o+x ${blocked.join(' ')}, or start over with \`npm run stack -- reset\` (deletes the stack data)`,
        );
      }
    }
    return { problems, missing: [] };
  },

  // Nothing to download: the binaries come from Debian's package (preflight says how to get them).
  isProvisioned: () => true,
  provision: () => Promise.resolve(),

  async prepare(config, _preflight, task): Promise<LaunchSpec> {
    const { binDir } = requirePostgres(config);
    const user = requireUser();
    const paths = stackPaths(config);
    const place = postgresPlace(config, user ?? null);
    for (const line of claimOutsidePlace(place, config, user)) {
      task.note(line);
      fs.appendFileSync(paths.logFile('postgres'), `[tributary stack] ${line}\n`);
    }
    ownDir(place.socketDir, user);
    if (dataDirMajor(place.data) === undefined) {
      // initdb into a side directory, renamed when complete: an interrupted initdb is never taken for a cluster.
      task.note('initdb');
      const partial = `${place.data}.partial`;
      removeTree(partial);
      removeTree(place.data);
      ownDir(partial, user);
      const result = await runCommand(path.join(binDir, 'initdb'), renderInitdbArgs(partial), {
        cwd: partial,
        env: pgEnv(),
        ...(user ? { user } : {}),
      });
      fs.appendFileSync(paths.logFile('postgres'), `[tributary stack] initdb:\n${result.output}`);
      assertSuccess(result, 'initdb', paths.logFile('postgres'));
      fs.renameSync(partial, place.data);
    }
    return {
      command: path.join(binDir, 'postgres'),
      args: renderPostgresArgs(config, place.data, place.socketDir),
      cwd: place.data,
      env: pgEnv(),
      ...(user ? { user } : {}),
    };
  },
};
