import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningProcess } from '@tributary/testing';
import {
  benchMode,
  cpuShares,
  imageMallocEnv,
  podEnv,
  podNodeArgs,
  productionEnv,
  quantityMib,
  rssResult,
  vmRssKib,
  type RssStats,
} from './production';

describe('vmRssKib', () => {
  it('reads VmRSS from a /proc status text', () => {
    const status = 'Name:\tnode\nVmPeak:\t 1200000 kB\nVmRSS:\t  153600 kB\nRssAnon:\t  100000 kB\n';
    expect(vmRssKib(status)).toBe(153_600);
  });

  it('is undefined when the process has none (zombie, or gone)', () => {
    expect(vmRssKib('Name:\tnode\nState:\tZ (zombie)\n')).toBeUndefined();
    expect(vmRssKib('')).toBeUndefined();
  });

  it('reads this process', () => {
    if (process.platform !== 'linux') return;
    expect(vmRssKib(readFileSync('/proc/self/status', 'utf8'))).toBeGreaterThan(1_000);
  });
});

describe('rssResult', () => {
  const row = (service: string, maxMib: number): RssStats => ({
    service,
    pid: 1,
    samples: 3,
    startMib: 80,
    maxMib,
    endMib: maxMib - 1,
  });

  it('names the service with the largest RSS', () => {
    expect(rssResult([row('ingestion', 120.5), row('leads', 180.2), row('sync', 99)], 'production')).toEqual({
      mode: 'production',
      rss_max_mib: 180.2,
      rss_max_service: 'leads',
    });
  });

  it('leaves the fields absent (na on the RESULT line) without samples', () => {
    expect(rssResult([], 'ts')).toEqual({ mode: 'ts', rss_max_mib: undefined, rss_max_service: undefined });
  });
});

describe('benchMode', () => {
  it('is production unless --dev', () => {
    expect(benchMode(undefined)).toBe('production');
    expect(benchMode(true)).toBe('ts');
  });
});

describe('cpuShares', () => {
  it("divides each service's CPU between two snapshots by the work done and the window", () => {
    const services = [{ name: 'ingestion' }, { name: 'leads' }] as RunningProcess[];
    // 12,000 calls in 60 s: ingestion used 1.2 CPU s, leads 6 s.
    expect(cpuShares(services, [10, 20], [11.2, 26], 12_000, 60)).toEqual([
      { service: 'ingestion', cpuSeconds: 1.2, cores: 0.02, usPerUnit: 100, perCore: 10_000 },
      { service: 'leads', cpuSeconds: 6, cores: 0.1, usPerUnit: 500, perCore: 2_000 },
    ]);
  });
});

describe('productionEnv', () => {
  it("gives production-mode services the image's malloc settings and an admin token; nothing in TS mode", () => {
    const env = productionEnv('production');
    expect(env['MALLOC_MMAP_THRESHOLD_']).toBe('131072');
    expect(env['ADMIN_TOKEN']).toMatch(/^[0-9a-f]{48}$/);
    expect(productionEnv('ts')).toEqual({});
  });

  it('reads MALLOC_ settings from the runtime stage only, across continued ENV lines', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dockerfile-'));
    const dockerfile = join(dir, 'Dockerfile');
    writeFileSync(
      dockerfile,
      [
        'FROM node AS build',
        'ENV MALLOC_ARENA_MAX=8',
        'FROM node AS runtime',
        'ENV NODE_ENV=production \\',
        '    MALLOC_MMAP_THRESHOLD_=65536 \\',
        '    HTTP_HOST=0.0.0.0',
      ].join('\n'),
    );
    expect(imageMallocEnv(dockerfile)).toEqual({ MALLOC_MMAP_THRESHOLD_: '65536' });
  });
});

describe('podEnv', () => {
  it("gives a service its pod's own settings from the chart, without NODE_OPTIONS; the bench's environment wins", () => {
    const dir = mkdtempSync(join(tmpdir(), 'values-'));
    const values = join(dir, 'values.yaml');
    writeFileSync(
      values,
      [
        'config: { CONSUMER_MAX_BYTES: "10485760" }',
        'services:',
        "  leads: { env: { CONSUMER_MAX_BYTES: '2097152', TRIBUTARY_PODENV_SPEC: 'chart', NODE_OPTIONS: '--x' } }",
        '  sync: {}',
      ].join('\n'),
    );
    expect(podEnv('leads', 'production', values)).toEqual({
      CONSUMER_MAX_BYTES: '2097152',
      TRIBUTARY_PODENV_SPEC: 'chart',
    });
    expect(podEnv('sync', 'production', values)).toEqual({});
    expect(podEnv('leads', 'ts', values)).toEqual({});
    process.env['TRIBUTARY_PODENV_SPEC'] = 'shell';
    try {
      expect(podEnv('leads', 'production', values)).toEqual({ CONSUMER_MAX_BYTES: '2097152' });
    } finally {
      delete process.env['TRIBUTARY_PODENV_SPEC'];
    }
  });
});

describe('podNodeArgs', () => {
  it('reads Kubernetes memory quantities', () => {
    expect([
      quantityMib('512Mi'),
      quantityMib('1Gi'),
      quantityMib('524288Ki'),
      quantityMib('536870912'),
    ]).toEqual([512, 1024, 512, 512]);
  });

  it('gives each service in production mode the Node flags its pod runs with, from the chart', () => {
    for (const service of ['ingestion', 'orchestration', 'sync', 'reporting'])
      expect(podNodeArgs(service, 'production')).toEqual([
        '--max-old-space-size=128',
        '--max-semi-space-size=8',
      ]);
    expect(podNodeArgs('leads', 'production')).toEqual([
      '--max-old-space-size=192',
      '--max-semi-space-size=8',
    ]);
    expect(podNodeArgs('leads', 'ts')).toEqual([]);
  });

  it('without NODE_OPTIONS, the old space V8 picks in a pod: half the memory limit; a service own env wins', () => {
    const dir = mkdtempSync(join(tmpdir(), 'values-'));
    const values = join(dir, 'values.yaml');
    writeFileSync(
      values,
      [
        'services:',
        '  leads: { resources: { limits: { memory: 1Gi } } }',
        "  sync: { env: { NODE_OPTIONS: '--max-old-space-size=96 --max-semi-space-size=8' } }",
        '  billing: {}',
      ].join('\n'),
    );
    expect(podNodeArgs('leads', 'production', values)).toEqual(['--max-old-space-size=512']);
    expect(podNodeArgs('sync', 'production', values)).toEqual([
      '--max-old-space-size=96',
      '--max-semi-space-size=8',
    ]);
    expect(() => podNodeArgs('billing', 'production', values)).toThrow(
      'neither NODE_OPTIONS nor a memory limit',
    );
  });
});
