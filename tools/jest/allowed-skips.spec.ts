import { ALLOWED_SKIPS, unlistedSkips } from './allowed-skips';

describe('unlistedSkips', () => {
  it('lets through only skipped tests listed with a reason; any other skip is reported', () => {
    const skipped = [
      {
        file: 'tools/deploy/helm-chart.spec.ts',
        fullName: 'helm chart deploy/helm/tributary renders probes',
      },
      { file: 'libs/x.int.spec.ts', fullName: 'lead router sweeps due leads' },
    ];
    expect(unlistedSkips(skipped)).toEqual([skipped[1]]);
    expect(unlistedSkips(skipped, [])).toEqual(skipped);
  });

  it('gives every allowed skip its reason', () => {
    for (const entry of ALLOWED_SKIPS) expect(entry.reason.length).toBeGreaterThan(20);
  });
});
