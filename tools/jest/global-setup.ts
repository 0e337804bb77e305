/**
 * Jest global setup for integration and end-to-end suites: makes sure a real stack answers and exports its
 * endpoints (KAFKA_BROKERS, SCHEMA_REGISTRY_URL, MONGO_URL) to the tests.
 * - default (native): reuse a running stack, else start one with tools/stack (Kafka, Apicurio, PostgreSQL, FerretDB);
 * - TRIBUTARY_STACK=containers: start Kafka, Apicurio and MongoDB with testcontainers (needs Docker).
 */
// Jest's globalSetup does not go through moduleNameMapper, so the lib's files are imported by path here (not its
// index, whose other modules import @tributary/* aliases).
// eslint-disable-next-line @nx/enforce-module-boundaries -- see above
import { startContainerStack, type ContainerStack } from '../../libs/testing/src/containers';
// eslint-disable-next-line @nx/enforce-module-boundaries -- see above
import { stackReachable, testStackEndpoints } from '../../libs/testing/src/stack-endpoints';

declare global {
  var __TRIBUTARY_CONTAINERS__: ContainerStack | undefined;
  /** The native stack's databases and topics before this run: the teardown removes the test ones created since. */
  var __TRIBUTARY_STACK_NAMES__: import('../stack/leftovers').StackNames | undefined;
}

export default async function globalSetup(): Promise<void> {
  if ((process.env['TRIBUTARY_TEST_SUITE'] ?? 'all') === 'unit') return;
  if (process.env['TRIBUTARY_STACK'] === 'containers') {
    const stack = await startContainerStack();
    globalThis.__TRIBUTARY_CONTAINERS__ = stack;
    process.env['KAFKA_BROKERS'] = stack.endpoints.kafkaBrokers.join(',');
    process.env['SCHEMA_REGISTRY_URL'] = stack.endpoints.registryUrl;
    process.env['MONGO_URL'] = stack.endpoints.mongoUrl;
    return;
  }
  const { stackUp, stackEndpoints, loadConfig } = await import('../stack/stack');
  const { cachePaths } = await import('../stack/config');
  // The store-outage test runs a private FerretDB from the same binary, so it can stop it without harming others,
  // on the stack's own backend: with PostgreSQL, a database of its own in the stack's cluster.
  const stackConfig = loadConfig();
  process.env['TRIBUTARY_FERRETDB_BIN'] = cachePaths(stackConfig).ferretBin;
  if (stackConfig.storeBackend === 'postgresql') {
    const { findPostgres } = await import('../stack/postgres');
    const found = findPostgres(stackConfig);
    if (!('problem' in found)) {
      process.env['TRIBUTARY_TEST_POSTGRES_BIN'] = found.binDir;
      process.env['TRIBUTARY_TEST_POSTGRES'] = `${stackConfig.host}:${stackConfig.ports.postgres}`;
    }
  }
  // Without exported endpoints (a bare `npx jest`), use the stack this checkout's TRIBUTARY_*_PORT variables
  // configure, never the default ports: those may be another checkout's stack.
  for (const [key, value] of Object.entries(stackEndpoints().env)) process.env[key] ??= value;
  if (!(await stackReachable(testStackEndpoints()))) {
    await stackUp();
    Object.assign(process.env, stackEndpoints().env);
  }
  const { listStackNames } = await import('../stack/leftovers');
  // Without the list, the teardown removes nothing (it never guesses what is this run's).
  globalThis.__TRIBUTARY_STACK_NAMES__ = await listStackNames(testStackEndpoints()).catch(
    (error: unknown) => {
      process.stderr.write(`stack not listed, test leftovers will stay: ${String(error)}\n`);
      return undefined;
    },
  );
}
