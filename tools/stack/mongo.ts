// FerretDB (MongoDB wire protocol) on PostgreSQL (the stack's postgres component) or SQLite files, built from
// source via the Go module proxy.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ComponentDef, LaunchSpec } from './component';
import { PORT_ENV, cachePaths, stackPaths } from './config';
import { StackError } from './errors';
import { mongoPing } from './mongo-ping';
import { ensureFerretDatabase } from './postgres';
import { renderFerretArgs } from './render';
import { assertSuccess, copyTreeWritable, removeTree, runCommand, which } from './system';
import { FERRETDB_PATCHES, VERSIONS } from './versions';

const MODULE = 'github.com/FerretDB/FerretDB';

/** Adds flags to GOFLAGS without dropping the user's own. */
function goEnv(extraFlags: string): NodeJS.ProcessEnv {
  const current = process.env['GOFLAGS']?.trim();
  return { ...process.env, GOFLAGS: current ? `${current} ${extraFlags}` : extraFlags };
}

export const mongo: ComponentDef = {
  name: 'mongo',
  title: 'FerretDB',
  // The backend is part of what runs: a FerretDB started on the other one is reported as not matching.
  version: (config) => `${VERSIONS.ferretdb} (${config.storeBackend})`,
  startTimeoutMs: 30_000,
  stopGraceMs: 10_000,

  ports: (config) => [
    { port: config.ports.mongo, envVar: PORT_ENV.mongo, purpose: 'FerretDB (MongoDB protocol)' },
  ],
  address: (config) => `mongodb://${config.host}:${config.ports.mongo}`,
  isOurs: (cmdline, config) =>
    path.basename(cmdline[0] ?? '').startsWith('ferretdb') &&
    cmdline.includes(`--state-dir=${stackPaths(config).ferretState}`),

  health: (config) => mongoPing(config.host, config.ports.mongo, 3_000),

  isProvisioned: (config) => fs.existsSync(cachePaths(config).ferretBin),

  async preflight(config) {
    if (mongo.isProvisioned(config) || which('go')) return { problems: [], missing: [] };
    return {
      problems: [],
      missing: [
        {
          tool: 'go',
          neededFor: `to build FerretDB ${VERSIONS.ferretdb}, which requires Go 1.24+`,
          fix: 'install it from https://go.dev/dl/ and put its bin directory on PATH',
        },
      ],
    };
  },

  async provision(config, task, signal) {
    const cache = cachePaths(config);
    // The binary is renamed into place only after a successful build, so its presence means complete.
    if (mongo.isProvisioned(config)) return;
    fs.mkdirSync(cache.ferretBuild, { recursive: true });
    const log = path.join(cache.ferretBuild, 'build.log');
    // A throwaway module, so that whatever go.mod surrounds the cache cannot interfere with the download.
    if (!fs.existsSync(path.join(cache.ferretBuild, 'go.mod'))) {
      const init = await runCommand('go', ['mod', 'init', 'tributary.local/ferretdb-build'], {
        cwd: cache.ferretBuild,
        logFile: log,
        signal,
      });
      assertSuccess(init, 'go mod init', log);
    }
    task.note(`go mod download ${MODULE}@${VERSIONS.ferretdb}`);
    const download = await runCommand('go', ['mod', 'download', '-json', `${MODULE}@${VERSIONS.ferretdb}`], {
      cwd: cache.ferretBuild,
      env: goEnv('-mod=mod'),
      logFile: log,
      signal,
    });
    let info: { Dir?: string; Error?: string } = {};
    try {
      info = JSON.parse(download.stdout) as typeof info;
    } catch {
      // not JSON: the exit status below tells what happened
    }
    if (info.Error)
      throw new StackError(`go mod download ${MODULE}@${VERSIONS.ferretdb} failed: ${info.Error}`);
    assertSuccess(download, `go mod download ${MODULE}@${VERSIONS.ferretdb}`, log);
    const moduleDir = info.Dir;
    if (!moduleDir) throw new StackError(`go mod download printed no module directory; see ${log}`);

    // `go install` of the module panics at start ("Invalid build/version/version.txt"): the release version is
    // stamped by their build tooling. Build a writable copy of the source with the version file filled in.
    task.note('copying sources');
    removeTree(cache.ferretSrc);
    copyTreeWritable(moduleDir, cache.ferretSrc);
    fs.writeFileSync(path.join(cache.ferretSrc, 'build', 'version', 'version.txt'), `${VERSIONS.ferretdb}\n`);

    // Our fixes of its PostgreSQL backend (index use for _id lookups, no pool deadlock under concurrent updates):
    // see the header of each patch. The copy is outside any git repository, so `git apply` patches files only.
    for (const patch of FERRETDB_PATCHES) {
      task.note(`applying ${path.basename(patch)}`);
      const applied = await runCommand('git', ['apply', '--verbose', path.join(__dirname, patch)], {
        cwd: cache.ferretSrc,
        env: { ...process.env, GIT_CEILING_DIRECTORIES: path.dirname(cache.ferretSrc) },
        logFile: log,
        signal,
      });
      assertSuccess(applied, `git apply ${patch}`, log);
    }

    task.note('go build ./cmd/ferretdb (~1.5 min the first time)');
    fs.mkdirSync(path.dirname(cache.ferretBin), { recursive: true });
    const partial = `${cache.ferretBin}.partial`;
    const build = await runCommand('go', ['build', '-buildvcs=false', '-o', partial, './cmd/ferretdb'], {
      cwd: cache.ferretSrc,
      logFile: log,
      signal,
    });
    assertSuccess(build, `go build of FerretDB ${VERSIONS.ferretdb}`, log);
    fs.renameSync(partial, cache.ferretBin);
  },

  async prepare(config, _preflight, task): Promise<LaunchSpec> {
    const paths = stackPaths(config);
    fs.mkdirSync(paths.ferretState, { recursive: true });
    if (config.storeBackend === 'sqlite') fs.mkdirSync(paths.ferretData, { recursive: true });
    else await ensureFerretDatabase(config, task);
    return {
      command: cachePaths(config).ferretBin,
      args: renderFerretArgs(config),
      cwd: paths.ferretState,
      // FerretDB allocates a lot per command (BSON ↔ JSON); at the default GOGC its collector took a fifth of its CPU
      // under a tracking backlog. Memory is cheap here, CPU is not. An explicit GOGC in the environment still wins.
      env: { GOGC: '400', ...process.env },
    };
  },
};
