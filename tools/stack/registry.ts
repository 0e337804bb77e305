// Apicurio Registry (Quarkus app) with kafkasql storage: schemas live in a Kafka topic, so ids survive restarts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ComponentDef, LaunchSpec, MissingTool, Preflight } from './component';
import { requireJava } from './component';
import { COMPLETE_MARKER, PORT_ENV, cachePaths, stackPaths, type StackConfig } from './config';
import { StackError } from './errors';
import { findJavaOrProblem } from './java';
import type { Task } from './progress';
import { assertSuccess, removeTree, runCommand, which } from './system';
import { JAVA_MIN, VERSIONS } from './versions';

const stackArg = (config: StackConfig) => `-Dtributary.stack=${config.stackDir}`;

function isProvisioned(config: StackConfig): boolean {
  return fs.existsSync(path.join(cachePaths(config).apicurioHome, COMPLETE_MARKER));
}

async function download(config: StackConfig, task: Task, signal?: AbortSignal): Promise<void> {
  const cache = cachePaths(config);
  fs.mkdirSync(cache.apicurioBuild, { recursive: true });
  fs.mkdirSync(cache.downloads, { recursive: true });
  const partial = path.join(cache.downloads, `.partial-apicurio-${process.pid}`);
  removeTree(partial);
  const log = path.join(cache.apicurioBuild, 'mvn.log');
  // The registry ships as a Maven artifact (classifier "all", tar.gz only; there is no zip).
  const artifact = `io.apicurio:apicurio-registry-app:${VERSIONS.apicurio}:tar.gz:all`;
  task.note(`mvn dependency:copy ${artifact} (~160 MB)`);
  // cwd is an empty directory so that no pom.xml around changes what mvn resolves.
  const result = await runCommand(
    'mvn',
    ['-q', '-B', 'dependency:copy', `-Dartifact=${artifact}`, `-DoutputDirectory=${partial}`],
    { cwd: cache.apicurioBuild, logFile: log, signal },
  );
  assertSuccess(result, `downloading Apicurio Registry ${VERSIONS.apicurio} with mvn`, log);
  const downloaded = path.join(partial, cache.apicurioArtifact);
  if (!fs.existsSync(downloaded))
    throw new StackError(`mvn finished but ${downloaded} is missing; see ${log}`);
  fs.renameSync(downloaded, cache.apicurioTarball);
  removeTree(partial);
}

/** Unpacks into a sibling directory and swaps it in, so a half-extracted tree is never used. */
async function extract(config: StackConfig, task: Task, signal?: AbortSignal): Promise<void> {
  const cache = cachePaths(config);
  const partial = `${cache.apicurioHome}.partial`;
  removeTree(partial);
  fs.mkdirSync(partial, { recursive: true });
  task.note(`tar xzf ${cache.apicurioArtifact}`);
  const result = await runCommand('tar', ['-xzf', cache.apicurioTarball, '-C', partial], {
    cwd: cache.dir,
    signal,
  });
  assertSuccess(result, `extracting ${cache.apicurioTarball}`);
  if (!fs.existsSync(path.join(partial, 'quarkus-run.jar'))) {
    throw new StackError(
      `${cache.apicurioTarball} has no quarkus-run.jar: not an Apicurio Registry app tarball?`,
    );
  }
  fs.writeFileSync(path.join(partial, COMPLETE_MARKER), `${new Date().toISOString()}\n`);
  removeTree(cache.apicurioHome);
  fs.renameSync(partial, cache.apicurioHome);
}

export const registry: ComponentDef = {
  name: 'registry',
  title: 'Apicurio Registry',
  version: () => VERSIONS.apicurio,
  // Quarkus boot + replaying the kafkasql journal: ~9 s on 2 idle cores, several times that on a busy machine.
  startTimeoutMs: 180_000,
  stopGraceMs: 20_000,

  ports: (config) => [
    { port: config.ports.registry, envVar: PORT_ENV.registry, purpose: 'Apicurio Registry HTTP' },
    {
      port: config.ports.registryManagement,
      envVar: PORT_ENV.registryManagement,
      purpose: 'Apicurio Registry management (health/metrics)',
    },
  ],
  address: (config) => `http://${config.host}:${config.ports.registry}/apis/ccompat/v7`,
  isOurs: (cmdline, config) =>
    cmdline.some((arg) => arg.endsWith('quarkus-run.jar')) && cmdline.includes(stackArg(config)),

  async health(config) {
    const url = `http://${config.host}:${config.ports.registry}/apis/ccompat/v7/subjects`;
    const response = await fetch(url, { signal: AbortSignal.timeout(3_000) }).catch((error: unknown) => {
      // fetch says only "fetch failed"; the reason (ECONNREFUSED, ...) is in its cause.
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
      throw new Error(`GET ${url}: ${cause instanceof Error ? cause.message : String(cause)}`);
    });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}`);
  },

  isProvisioned,

  async preflight(config) {
    const problems: string[] = [];
    const { java, problem } = await findJavaOrProblem({
      minMajor: JAVA_MIN.registry,
      override: config.java.registry,
      overrideVar: 'TRIBUTARY_REGISTRY_JAVA',
      purpose: `Apicurio Registry ${VERSIONS.apicurio}`,
      installHint:
        `install a JDK ${JAVA_MIN.registry}+ (apt-get install -y openjdk-${JAVA_MIN.registry}-jre-headless ` +
        'where available, or Temurin from https://adoptium.net/installation/linux/)',
    });
    if (problem) problems.push(problem);
    const missing: MissingTool[] = [];
    if (!isProvisioned(config)) {
      if (!fs.existsSync(cachePaths(config).apicurioTarball) && !which('mvn')) {
        missing.push({
          tool: 'mvn',
          neededFor: `to download Apicurio Registry ${VERSIONS.apicurio} from Maven Central`,
          fix: 'apt-get install -y maven',
        });
      }
      if (!which('tar')) {
        missing.push({
          tool: 'tar',
          neededFor: 'to unpack Apicurio Registry',
          fix: 'apt-get install -y tar',
        });
      }
    }
    return java ? { problems, missing, java } : { problems, missing };
  },

  async provision(config, task, signal) {
    if (isProvisioned(config)) return;
    const cache = cachePaths(config);
    if (fs.existsSync(cache.apicurioTarball) && fs.existsSync(cache.apicurioHome)) {
      // An unpacked tree without our marker (e.g. unpacked by hand): keep it if it matches the tarball, as a
      // registry may be running from it.
      task.note('verifying the unpacked tree against the tarball');
      const compare = await runCommand('tar', ['-dzf', cache.apicurioTarball, '-C', cache.apicurioHome], {
        cwd: cache.dir,
        signal,
      });
      if (compare.code === 0) {
        fs.writeFileSync(path.join(cache.apicurioHome, COMPLETE_MARKER), `${new Date().toISOString()}\n`);
        return;
      }
    }
    if (fs.existsSync(cache.apicurioTarball)) {
      try {
        await extract(config, task, signal);
        return;
      } catch (error) {
        if (signal?.aborted) throw error;
        // Most likely a truncated download from an interrupted run: fetch it again below.
        fs.rmSync(cache.apicurioTarball, { force: true });
      }
    }
    await download(config, task, signal);
    await extract(config, task, signal);
  },

  async prepare(config, preflight: Preflight): Promise<LaunchSpec> {
    const java = requireJava(preflight, 'registry');
    const paths = stackPaths(config);
    const cache = cachePaths(config);
    fs.mkdirSync(paths.registryWork, { recursive: true });
    return {
      command: java.path,
      args: ['-Xmx384m', stackArg(config), '-jar', cache.apicurioJar],
      cwd: paths.registryWork,
      env: {
        ...process.env,
        QUARKUS_HTTP_HOST: config.host,
        QUARKUS_HTTP_PORT: String(config.ports.registry),
        // Quarkus' management interface (health, metrics) defaults to 0.0.0.0:9000.
        QUARKUS_MANAGEMENT_HOST: config.host,
        QUARKUS_MANAGEMENT_PORT: String(config.ports.registryManagement),
        APICURIO_STORAGE_KIND: 'kafkasql',
        APICURIO_KAFKASQL_BOOTSTRAP_SERVERS: `${config.host}:${config.ports.kafka}`,
        // Boot waits out a couple of empty polls of the snapshots topic: 5 s each by default, ~6 s of a 16 s start.
        APICURIO_KAFKASQL_CONSUMER_POLL_TIMEOUT: '1000',
      },
    };
  },
};
