/**
 * A freshly generated service boots on the real stack. `npm run new-service` writes into a scratch workspace under
 * the repo's git-ignored tmp/ (so the app's imports resolve as an app's do, and neither Nx, Jest, tsc, git nor Prettier
 * see it), the service runs as its own process as `npm start` runs them, answers /health/ready and consumes a
 * published tracking event as its template says. It cleans up after itself (workspace, database, consumer group,
 * dead-letter topic, checked in the last test) and never touches the real list or apps/.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Admin, Kafka } from 'kafkajs';
import mongoose from 'mongoose';
import { Catalog, Topics } from '@tributary/contracts';
import { AvroSchemaRegistry, EventPublisher, createKafka, ensureTopics } from '@tributary/messaging';
import { createLogger } from '@tributary/observability';
import {
  freePort,
  testServiceEnv,
  testStackEndpoints,
  trackingEventFixture,
  uniqueId,
  waitFor,
} from '@tributary/testing';
import { spawnService, stopService, waitReady, type RunningProcess } from '@tributary/testing';
import { generateService } from './new-service';
import { createScratchWorkspace, removeScratchWorkspace } from './scratch-workspace';
import { REPO_ROOT, SERVICE_LIST_FILE } from './service-list';
import { FILES, describeProblems, syncServices } from './sync';

const run = uniqueId('n');
const name = `probe-${run}`;
const env = testServiceEnv(name, run, { LOG_LEVEL: 'info' });
const database = env['MONGO_DB'] ?? '';
const group = env['CONSUMER_GROUP'] ?? '';
const dlq = `dlq.${group}`;
const tmpDir = join(REPO_ROOT, 'tmp');
const realList = readFileSync(join(REPO_ROOT, SERVICE_LIST_FILE), 'utf8');
// Asynchronous on purpose: a synchronous child blocks the event loop, and the HTTP client then reuses a keep-alive
// socket the service closed meanwhile ("other side closed").
const run$ = promisify(execFile);
const bin = (tool: string): string => join(REPO_ROOT, 'node_modules', '.bin', tool);

/** A port nothing listens on right now. */

let tmpExisted: boolean;
let root = '';
let port: number;
let service: RunningProcess | undefined;
let kafka: Kafka;
let admin: Admin;
let publisher: EventPublisher | undefined;
let store: mongoose.Connection;

/** Removes everything this suite made; safe to run twice (the last test runs it, afterAll again after a failure). */
async function cleanUp(): Promise<void> {
  if (service) await stopService(service);
  await store.useDb(database, { useCache: false }).dropDatabase();
  const topics = await admin.listTopics();
  if (topics.includes(dlq)) await admin.deleteTopics({ topics: [dlq], timeout: 30_000 });
  const { groups } = await admin.listGroups();
  if (groups.some((g) => g.groupId === group)) await admin.deleteGroups([group]);
  if (root && existsSync(root)) removeScratchWorkspace(root);
  // tmp/ is shared (git-ignored scratch space): remove it only if this suite made it and it is empty again.
  if (!tmpExisted && existsSync(tmpDir) && readdirSync(tmpDir).length === 0) rmdirSync(tmpDir);
}

beforeAll(async () => {
  const endpoints = testStackEndpoints();
  kafka = createKafka(`tributary-${name}-test`, endpoints.kafkaBrokers, createLogger('test', 'warn'));
  admin = kafka.admin();
  await admin.connect();
  store = await mongoose.createConnection(endpoints.mongoUrl).asPromise();
  // The template's consumer reads tracking.events; a fresh stack may not have it yet.
  await ensureTopics(admin, [Catalog[Topics.TrackingEvents]], 1);

  tmpExisted = existsSync(tmpDir);
  mkdirSync(tmpDir, { recursive: true });
  root = createScratchWorkspace(tmpDir);
  port = await freePort();
  generateService({ root, name, port, consumes: Topics.TrackingEvents });

  service = spawnService(name, port, env, join(root, 'logs'), { appsDir: join(root, 'apps') });
  try {
    await waitReady(service);
  } catch (error) {
    const log = existsSync(service.logFile)
      ? readFileSync(service.logFile, 'utf8').slice(-3_000)
      : '(no log)';
    throw new Error(`${(error as Error).message}\n${log}`);
  }
  const registry = new AvroSchemaRegistry(endpoints.registryUrl);
  await registry.registerTopics([Topics.TrackingEvents]);
  publisher = new EventPublisher(kafka, registry, 'new-service-test');
  await publisher.connect();
}, 180_000);

afterAll(async () => {
  await publisher?.disconnect();
  await cleanUp();
  await admin.disconnect();
  await store.close();
}, 60_000);

describe('a service made by npm run new-service', () => {
  it('answers /health/ready with 200 on its port', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/health/ready`);
    expect(response.status).toBe(200);
  });

  it('lives only in the scratch workspace, whose check names just the catalog entries left to write', async () => {
    const { problems } = syncServices(root, { write: false });
    expect(describeProblems(problems)).toBe(
      describeProblems([
        {
          file: FILES.catalog,
          message: `${SERVICE_LIST_FILE} says ${name} consumes, but no topic lists it as a consumer`,
        },
        { file: FILES.catalog, message: `${name} consumes, but there is no dlq.${name} topic` },
      ]),
    );
    expect(readFileSync(join(REPO_ROOT, SERVICE_LIST_FILE), 'utf8')).toBe(realList);
    expect(existsSync(join(REPO_ROOT, 'apps', name))).toBe(false);
    // tmp/ is git-ignored, so Nx (which honours .gitignore) does not take the scratch app for a project.
    const projects = await run$(bin('nx'), ['show', 'projects'], {
      cwd: REPO_ROOT,
      env: { ...process.env, NX_DAEMON: 'false' },
    });
    expect(projects.stdout.split('\n')).toContain('leads');
    expect(projects.stdout.split('\n')).not.toContain(name);
  });

  it("type-checks and lints as strictly as the repo's own apps", async () => {
    const app = join(root, 'apps', name);
    // The repo's compiler settings and path aliases, over the generated files only.
    const tsconfig = join(root, 'tsconfig.generated.json');
    writeFileSync(
      tsconfig,
      JSON.stringify({ extends: join(REPO_ROOT, 'tsconfig.json'), include: [`${app}/**/*.ts`] }),
    );
    // A failure rejects with the tool's output (the errors) in its message.
    await run$(bin('tsc'), ['-p', tsconfig, '--noEmit'], { cwd: REPO_ROOT });
    // --no-ignore: the repo's lint skips tmp/ (scratch space); this run is about exactly that code.
    await run$(bin('eslint'), ['--no-ignore', '--max-warnings', '0', app], { cwd: REPO_ROOT });
  });

  it('consumes a published tracking event, marking it processed in its own database', async () => {
    const event = trackingEventFixture({
      metadata: { workspaceId: `ws_${run}` },
      userId: 'u1',
      event: 'Probe',
    });
    await publisher?.publish({ topic: Topics.TrackingEvents, key: 'u1', event });
    const marker = await waitFor(`${name} to mark ${event.metadata.eventId} processed`, () =>
      store
        .useDb(database, { useCache: false })
        .collection<{ _id: string; state: string }>('processed_events')
        .findOne({ _id: `${name}:${event.metadata.eventId}` })
        .then((doc) => doc ?? undefined),
    );
    expect(marker).toMatchObject({ state: 'done' });
    expect(readFileSync(service?.logFile ?? '', 'utf8')).toContain('tracking.events received');
  });

  it('leaves nothing behind: workspace, database, consumer group and dead-letter topic are gone', async () => {
    await cleanUp();
    service = undefined;
    expect(existsSync(root)).toBe(false);
    const listed = await store.db?.admin().listDatabases();
    expect((listed?.databases ?? []).map((db) => db.name)).not.toContain(database);
    expect(await admin.listTopics()).not.toContain(dlq);
    expect((await admin.listGroups()).groups.map((g) => g.groupId)).not.toContain(group);
  });
});
