/**
 * The only tests `npm test` lets be skipped, each with why. Any other skipped (or `todo`) test fails the run: a test
 * that quietly stops running is a test that cannot fail. Matched against Jest's full test name, from its start.
 */
export const ALLOWED_SKIPS: readonly { test: string; reason: string }[] = [
  {
    test: 'helm chart deploy/helm/tributary',
    reason:
      'needs the helm binary, which .ci/run installs (tools/deploy/ensure-helm.sh); a bare `npm test` may lack it',
  },
  {
    test: 'store outage',
    reason:
      'containers mode (TRIBUTARY_STACK=containers) has no FerretDB binary to stop privately; the native stack runs it',
  },
];

/** A skipped test as Jest's JSON report names it. */
export interface SkippedTest {
  file: string;
  fullName: string;
}

/** The skipped tests no entry of ALLOWED_SKIPS covers. */
export function unlistedSkips(
  skipped: readonly SkippedTest[],
  allowed: readonly { test: string }[] = ALLOWED_SKIPS,
): SkippedTest[] {
  return skipped.filter((t) => !allowed.some((entry) => t.fullName.startsWith(entry.test)));
}
