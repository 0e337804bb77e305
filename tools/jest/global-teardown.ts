// eslint-disable-next-line @nx/enforce-module-boundaries -- Jest's global hooks import by path (see global-setup)
import { testStackEndpoints } from '../../libs/testing/src/stack-endpoints';

/**
 * Stops containers started by the global setup. A native stack is left running for the next run (fast reruns), without
 * the databases and topics this run's tests created (see tools/stack/leftovers.ts); what existed before stays.
 */
export default async function globalTeardown(): Promise<void> {
  await globalThis.__TRIBUTARY_CONTAINERS__?.stop();
  const before = globalThis.__TRIBUTARY_STACK_NAMES__;
  if (!before || process.env['TRIBUTARY_KEEP_TEST_DATA'] === 'true') return;
  const { removeTestLeftovers } = await import('../stack/leftovers');
  const removed = await removeTestLeftovers(testStackEndpoints(), before).catch((error: unknown) => {
    // The run's result stands; a stack that went away meanwhile keeps its leftovers for `npm run stack -- prune`.
    process.stderr.write(
      `test leftovers not removed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    return undefined;
  });
  if (removed)
    process.stdout.write(
      `removed this run's ${removed.databases.length} test databases and ${removed.topics.length} test topics (TRIBUTARY_KEEP_TEST_DATA=true keeps them)\n`,
    );
}
