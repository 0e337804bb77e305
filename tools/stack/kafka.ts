// Apache Kafka in KRaft mode (broker + controller in one JVM), jars assembled from Maven Central.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { ComponentDef, LaunchSpec, MissingTool, Preflight } from './component';
import { requireJava } from './component';
import { COMPLETE_MARKER, PORT_ENV, cachePaths, stackPaths, type StackConfig } from './config';
import { StackError } from './errors';
import { findJavaOrProblem } from './java';
import { newKafkaClusterId, renderKafkaLog4j2, renderKafkaPom, renderServerProperties } from './render';
import { assertSuccess, removeTree, runCommand, which } from './system';
import { JAVA_MIN, VERSIONS } from './versions';

/** A group nobody joins: describing it makes the broker create __consumer_offsets and load its coordinator. */
const PROBE_GROUP = 'tributary-stack-probe';

const stackArg = (config: StackConfig) => `-Dtributary.stack=${config.stackDir}`;

function isProvisioned(config: StackConfig): boolean {
  return fs.existsSync(path.join(cachePaths(config).kafkaHome, COMPLETE_MARKER));
}

export const kafka: ComponentDef = {
  name: 'kafka',
  title: 'Kafka',
  version: () => VERSIONS.kafka,
  startTimeoutMs: 90_000,
  // A single-node broker has no leadership to hand over; a clean shutdown takes a few seconds.
  stopGraceMs: 30_000,

  ports: (config) => [
    { port: config.ports.kafka, envVar: PORT_ENV.kafka, purpose: 'Kafka broker' },
    {
      port: config.ports.kafkaController,
      envVar: PORT_ENV.kafkaController,
      purpose: 'Kafka KRaft controller',
    },
  ],
  address: (config) => `${config.host}:${config.ports.kafka}`,
  isOurs: (cmdline, config) => cmdline.includes('kafka.Kafka') && cmdline.includes(stackArg(config)),

  async health(config) {
    const client = new Kafka({
      clientId: 'tributary-stack-probe',
      brokers: [`${config.host}:${config.ports.kafka}`],
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1_000,
      requestTimeout: 3_000,
      // The caller polls; kafkajs' own retries would only hide the state for seconds.
      retry: { retries: 0 },
    });
    const admin = client.admin({ retry: { retries: 0 } });
    try {
      await admin.connect();
      await admin.describeCluster();
      // Until the group coordinator answers, kafkajs consumers loop on "group coordinator is not available".
      await admin.describeGroups([PROBE_GROUP]);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  },

  isProvisioned,

  async preflight(config) {
    const problems: string[] = [];
    const { java, problem } = await findJavaOrProblem({
      minMajor: JAVA_MIN.kafka,
      override: config.java.kafka,
      overrideVar: 'TRIBUTARY_KAFKA_JAVA',
      purpose: `Kafka ${VERSIONS.kafka}`,
      installHint: `apt-get install -y openjdk-${JAVA_MIN.kafka}-jre-headless`,
    });
    if (problem) problems.push(problem);
    const missing: MissingTool[] = [];
    if (!isProvisioned(config) && !which('mvn')) {
      missing.push({
        tool: 'mvn',
        neededFor: `to download the Kafka ${VERSIONS.kafka} jars from Maven Central`,
        fix: 'apt-get install -y maven',
      });
    }
    return java ? { problems, missing, java } : { problems, missing };
  },

  async provision(config, task, signal) {
    if (isProvisioned(config)) return;
    const cache = cachePaths(config);
    fs.mkdirSync(cache.kafkaBuild, { recursive: true });
    const pom = path.join(cache.kafkaBuild, 'pom.xml');
    fs.writeFileSync(pom, renderKafkaPom());
    // Download next to the target and swap it in at the end: an interrupted mvn never leaves a half classpath.
    const partial = `${cache.kafkaHome}.partial`;
    removeTree(partial);
    const log = path.join(cache.kafkaBuild, 'mvn.log');
    task.note('mvn dependency:copy-dependencies');
    const result = await runCommand(
      'mvn',
      [
        '-q',
        '-B',
        '-f',
        pom,
        'dependency:copy-dependencies',
        `-DoutputDirectory=${path.join(partial, 'libs')}`,
      ],
      { cwd: cache.kafkaBuild, logFile: log, signal },
    );
    assertSuccess(result, `downloading Kafka ${VERSIONS.kafka} with mvn`, log);
    const jars = fs.readdirSync(path.join(partial, 'libs'));
    const core = `kafka_${VERSIONS.kafkaScala}-${VERSIONS.kafka}.jar`;
    if (!jars.includes(core)) throw new StackError(`mvn finished but ${core} is missing; see ${log}`);
    // A second slf4j binding (e.g. reload4j) would win at random and silence the broker's log.
    for (const jar of jars.filter((j) => /^slf4j-(reload4j|log4j12|simple|jdk14)-/.test(j))) {
      fs.rmSync(path.join(partial, 'libs', jar));
    }
    fs.writeFileSync(path.join(partial, COMPLETE_MARKER), `${new Date().toISOString()}\n`);
    removeTree(cache.kafkaHome);
    fs.renameSync(partial, cache.kafkaHome);
  },

  async prepare(config, preflight: Preflight, task): Promise<LaunchSpec> {
    const java = requireJava(preflight, 'kafka');
    const paths = stackPaths(config);
    const cache = cachePaths(config);
    fs.mkdirSync(path.dirname(paths.kafkaProperties), { recursive: true });
    fs.mkdirSync(paths.kafkaData, { recursive: true });
    // Rewritten on every start so port changes in the environment take effect.
    fs.writeFileSync(paths.kafkaProperties, renderServerProperties(config, paths.kafkaData));
    fs.writeFileSync(paths.kafkaLog4j, renderKafkaLog4j2());
    const classpath = ['-cp', path.join(cache.kafkaLibs, '*')];
    const log4j = `-Dlog4j2.configurationFile=${paths.kafkaLog4j}`;

    if (!fs.existsSync(path.join(paths.kafkaData, 'meta.properties'))) {
      task.note('formatting KRaft storage');
      const clusterId = newKafkaClusterId();
      const result = await runCommand(
        java.path,
        [
          log4j,
          '-Dtributary.log.level=WARN',
          ...classpath,
          'kafka.tools.StorageTool',
          'format',
          '-t',
          clusterId,
          '-c',
          paths.kafkaProperties,
        ],
        { cwd: paths.dir },
      );
      fs.appendFileSync(paths.logFile('kafka'), `[tributary stack] storage format:\n${result.output}`);
      assertSuccess(
        result,
        'formatting Kafka storage (kafka.tools.StorageTool format)',
        paths.logFile('kafka'),
      );
    }

    return {
      command: java.path,
      args: [
        '-Xms256m',
        '-Xmx512m',
        // Same GC settings as Kafka's own start scripts.
        '-XX:+UseG1GC',
        '-XX:MaxGCPauseMillis=20',
        '-XX:InitiatingHeapOccupancyPercent=35',
        '-Djava.awt.headless=true',
        log4j,
        stackArg(config),
        ...classpath,
        'kafka.Kafka',
        paths.kafkaProperties,
      ],
      cwd: paths.dir,
      env: process.env,
    };
  },
};
