/**
 * The one list of services (tools/services/services.json): the repo agrees with it, and the check really fails,
 * naming the file and the service, when a copy of the repo disagrees (each case edits a scratch copy, never the
 * real files).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICES } from '../dev/services';
import { formatJson, prettierUnformatted } from './format';
import { generateService } from './new-service';
import { createScratchWorkspace, ownAppFile, removeScratchWorkspace } from './scratch-workspace';
import {
  REPO_ROOT,
  SERVICE_ENTRIES,
  SERVICE_LIST_FILE,
  ServiceListError,
  parseServiceList,
  type ServiceEntry,
} from './service-list';
import { FILES, SYNCED_FILES, describeProblems, syncServices } from './sync';

const LIST = SERVICE_LIST_FILE;

function problemsOf(root: string): string[] {
  return syncServices(root, { write: false }).problems.map((p) => `${p.file}: ${p.message}`);
}

function read(root: string, file: string): string {
  return readFileSync(join(root, file), 'utf8');
}

function edit(root: string, file: string, change: (text: string) => string): void {
  const text = read(root, file);
  const changed = change(text);
  if (changed === text) throw new Error(`the edit of ${file} changed nothing`);
  writeFileSync(join(root, file), changed);
}

function editList(root: string, change: (list: { services: ServiceEntry[] }) => void): void {
  edit(root, LIST, (text) => {
    const list = JSON.parse(text) as { services: ServiceEntry[] };
    change(list);
    return JSON.stringify(list, null, 2);
  });
}

const billing: ServiceEntry = {
  name: 'billing',
  port: 3105,
  consumerGroup: 'billing',
  database: 'tributary_billing',
  consumes: false,
  scopes: [],
  config: { module: 'apps/billing/src/config.ts', loader: 'loadBillingConfig' },
};

describe('the service list', () => {
  it('is what the repo has: every generated file, app, config default, scope and catalog name agrees', () => {
    const { problems, changed } = syncServices(REPO_ROOT, { write: false });
    // On failure this names each file and service; `npm run services:sync` fixes the generated ones.
    expect(describeProblems(problems)).toBe('');
    expect(changed).toEqual([]);
  });

  it('is what tools/dev, the lint config and the deploy specs read, not lists of their own', () => {
    expect(SERVICES).toEqual(SERVICE_ENTRIES.map(({ name, port }) => ({ name, port })));
    const eslintConfig = require(join(REPO_ROOT, 'eslint.config.js')) as {
      files?: string[];
      rules?: Record<string, [string, { allow?: string[] }]>;
    }[];
    const e2e = eslintConfig.find((block) => block.files?.includes('tests/e2e/**/*.ts'));
    expect(e2e?.rules?.['@nx/enforce-module-boundaries']?.[1].allow).toEqual(
      SERVICE_ENTRIES.map((s) => `@tributary/${s.name}`),
    );
    for (const spec of ['tools/deploy/docker-compose.spec.ts', 'tools/deploy/helm-chart.spec.ts']) {
      const source = read(REPO_ROOT, spec);
      expect(`${spec}: ${/apps\/[a-z-]+\/src\/config/.test(source)}`).toBe(`${spec}: false`);
      expect(source).toContain("from '../services/service-list'");
    }
  });

  it("writes JSON in Prettier's layout (the sync rewrites these files without Prettier)", () => {
    for (const file of [FILES.helmSchema, FILES.tsconfig]) {
      const text = read(REPO_ROOT, file);
      expect(`${formatJson(JSON.parse(text))}\n`).toBe(text);
    }
  });

  it('refuses a malformed list, naming every problem', () => {
    const text = JSON.stringify({
      services: [
        { ...billing, name: 'Billing', port: 3000 },
        {
          ...billing,
          name: 'refunds',
          port: 3000,
          consumerGroup: 'refunds.x',
          database: 'tributary_refunds',
        },
      ],
      nonServiceParties: [],
    });
    expect(() => parseServiceList(text)).toThrow(ServiceListError);
    expect(() => parseServiceList(text)).toThrow(/services\.0\.name: lower-case kebab-case/);
    expect(() => parseServiceList(text)).toThrow(/services\.1\.consumerGroup: no dots/);
    const dupes = JSON.stringify({
      services: [
        billing,
        { ...billing, name: 'refunds', consumerGroup: 'refunds', database: 'tributary_refunds' },
      ],
      nonServiceParties: ['billing'],
    });
    expect(() => parseServiceList(dupes)).toThrow(/port 3105 is used twice/);
    for (const scope of ['*', 'reports read', 'Reports:read', 'webhooks:<Source>', 'reports:']) {
      const bad = JSON.stringify({ services: [{ ...billing, scopes: [scope] }], nonServiceParties: [] });
      expect(() => parseServiceList(bad)).toThrow(
        /services\.0\.scopes\.0: lower-case words joined by colons/,
      );
    }
    const good = JSON.stringify({
      services: [{ ...billing, scopes: ['admin', 'track:write', 'webhooks:<source>', 'lead-sync:read'] }],
      nonServiceParties: [],
    });
    expect(parseServiceList(good).services[0]?.scopes).toHaveLength(4);
    expect(() => parseServiceList(dupes)).toThrow(/billing is both a service and a non-service party/);
  });

  describe('on a scratch copy', () => {
    let root: string;
    beforeEach(() => {
      root = createScratchWorkspace();
    });
    afterEach(() => removeScratchWorkspace(root));

    it('starts out agreeing, like the repo', () => {
      expect(problemsOf(root)).toEqual([]);
    });

    it('names every list that lacks a newly listed service; the sync fills in all it generates', () => {
      editList(root, (list) => list.services.push(billing));
      const problems = problemsOf(root);
      expect(problems).toEqual(
        expect.arrayContaining([
          `${FILES.tsconfig}: paths (@tributary/<service>) lacks billing, which ${LIST} lists`,
          `${FILES.e2e}: implicitDependencies lacks billing, which ${LIST} lists`,
          `${FILES.dockerfile}: the SERVICE case list lacks billing, which ${LIST} lists`,
          `${FILES.dockerfile}: EXPOSE lacks billing's port 3105 (${LIST})`,
          `${FILES.compose}: services built from the Dockerfile lacks billing, which ${LIST} lists`,
          `${FILES.helmValues}: services lacks billing, which ${LIST} lists`,
          `${FILES.helmSchema}: services.required lacks billing, which ${LIST} lists`,
          `apps: apps/ (projects tagged type:app) lacks billing, which ${LIST} lists`,
          `${LIST}: billing's config module apps/billing/src/config.ts does not exist`,
        ]),
      );

      const synced = syncServices(root, { write: true });
      expect([...synced.changed].sort()).toEqual([...SYNCED_FILES].sort());
      // What is left is the app itself: the generator's job, not the sync's.
      expect(describeProblems(synced.problems)).toBe(
        describeProblems([
          { file: 'apps', message: `apps/ (projects tagged type:app) lacks billing, which ${LIST} lists` },
          { file: LIST, message: "billing's config module apps/billing/src/config.ts does not exist" },
          {
            file: LIST,
            message:
              "billing's scopes module apps/billing/src/scopes.ts does not exist (declare its scopes there, even none)",
          },
        ]),
      );
      expect(read(root, FILES.dockerfile)).toContain(
        'ingestion|leads|orchestration|sync|reporting|billing) ;;',
      );
      expect(read(root, FILES.compose)).toContain("      - '3105:3105'");
      expect(read(root, FILES.helmValues)).toMatch(/\n {2}billing:\n {4}enabled: true\n {4}port: 3105\n/);
      // A second sync has nothing left to write, and Prettier has nothing to change in what it wrote.
      expect(syncServices(root, { write: true }).changed).toEqual([]);
      const formatted = SYNCED_FILES.filter((file) => file !== FILES.dockerfile); // Prettier has no Dockerfile parser
      expect(prettierUnformatted(formatted.map((file) => join(root, file)))).toEqual([]);
    });

    it('names every list that still has a service the list dropped', () => {
      editList(root, (list) => {
        list.services = list.services.filter((s) => s.name !== 'sync');
      });
      const problems = problemsOf(root);
      const extra = `has sync, which ${LIST} does not list`;
      expect(problems).toEqual(
        expect.arrayContaining([
          `${FILES.tsconfig}: paths (@tributary/<service>) ${extra}`,
          `${FILES.e2e}: implicitDependencies ${extra}`,
          `${FILES.dockerfile}: the SERVICE case list ${extra}`,
          `${FILES.compose}: services built from the Dockerfile ${extra}`,
          `${FILES.helmValues}: services ${extra}`,
          `${FILES.helmSchema}: services.required ${extra}`,
          `apps: apps/ (projects tagged type:app) ${extra}`,
          `${FILES.catalog}: dlq.sync is the dead-letter topic of group sync, which no service in ${LIST} has`,
          `${FILES.catalog}: leads.scored names sync as a consumer, which is neither a service in ${LIST} nor one of its nonServiceParties`,
        ]),
      );
      // Hand-tuned blocks are never deleted by the sync: compose and values keep saying so.
      const left = syncServices(root, { write: true }).problems.map((p) => `${p.file}: ${p.message}`);
      expect(left).toEqual(
        expect.arrayContaining([`${FILES.compose}: services built from the Dockerfile ${extra}`]),
      );
      expect(left.filter((p) => p.startsWith(FILES.tsconfig) || p.startsWith(FILES.dockerfile))).toEqual([]);
    });

    it("names a port that disagrees with compose, the chart and the service's own config", () => {
      editList(root, (list) => {
        const leads = list.services.find((s) => s.name === 'leads');
        if (leads) leads.port = 3101;
      });
      expect(problemsOf(root)).toEqual(
        expect.arrayContaining([
          `${FILES.compose}: leads has HTTP_PORT 3001, but ${LIST} says 3101`,
          `${FILES.helmValues}: services.leads.port is 3001, but ${LIST} says 3101`,
          `${FILES.dockerfile}: EXPOSE lacks leads's port 3101 (${LIST})`,
          `apps/leads/src/config.ts: leads defaults HTTP_PORT to 3001, ${LIST} says 3101`,
        ]),
      );
    });

    it('names catalog producers and consumers that are not services, and consumers without a DLQ', () => {
      edit(root, FILES.catalog, (text) =>
        text
          .replace(
            'consumers: [orchestration, sync, reporting]',
            'consumers: [orchestration, sync, reporting, billing]',
          )
          .replace(/ {2}- name: dlq\.orchestration\n(?: {4}.*\n)+/, ''),
      );
      expect(problemsOf(root)).toEqual([
        // Reporting counts dlq.orchestration's dead letters: its lag topics now name a topic the catalog lost.
        expect.stringMatching(
          /^deploy\/helm\/tributary\/values\.yaml: services\.reporting\.autoscaling\.kafkaLag\.topics is .*dlq\.orchestration/,
        ),
        `${FILES.catalog}: leads.scored names billing as a consumer, which is neither a service in ${LIST} nor one of its nonServiceParties`,
        `${FILES.catalog}: orchestration consumes, but there is no dlq.orchestration topic`,
      ]);
    });

    it('names a service whose consumes flag disagrees with the catalog', () => {
      editList(root, (list) => {
        const reporting = list.services.find((s) => s.name === 'reporting');
        if (reporting) reporting.consumes = false;
      });
      expect(problemsOf(root)).toEqual(
        expect.arrayContaining([
          `${FILES.catalog}: dlq.reporting exists, but ${LIST} says reporting consumes nothing`,
          expect.stringMatching(
            /^schemas\/catalog\.yaml: reporting consumes tracking\.events, .* consumes: false$/,
          ),
        ]),
      );
    });

    it("keeps the chart's kafkaLag topics on the catalog's consumers", () => {
      const syncTopics = /\n {2}sync:\n[\s\S]*?topics: \[([^\]]*)\]/;
      const consumed = syncTopics.exec(read(root, FILES.helmValues))?.[1];
      expect(consumed?.split(', ')).toContain('records.changed');
      edit(root, FILES.helmValues, (text) => text.replace(`topics: [${consumed}]`, 'topics: [leads.scored]'));
      expect(problemsOf(root)).toEqual([
        `${FILES.helmValues}: services.sync.autoscaling.kafkaLag.topics is [leads.scored], but ${FILES.catalog} has sync consume [${consumed}]`,
      ]);
      syncServices(root, { write: true });
      expect(read(root, FILES.helmValues)).toContain(`topics: [${consumed}]`);
      expect(problemsOf(root)).toEqual([]);
    });

    it('writes a topic list too long for one line one topic a line', () => {
      edit(root, FILES.catalog, (text) =>
        text.replace(
          /consumers: \[(orchestration, )?(analysts|operators|credential-table|crm-sync, analysts)\]/g,
          // Orchestration keeps the topics its handlers read (leads.assigned).
          (_list, orchestration: string | undefined) => `consumers: [${orchestration ?? ''}sync]`,
        ),
      );
      const synced = syncServices(root, { write: true });
      expect(describeProblems(synced.problems)).toBe('');
      const values = read(root, FILES.helmValues);
      const block = /\n {2}sync:\n[\s\S]*? {8}topics:\n((?: {10}- \S+\n)+)/.exec(values)?.[1];
      expect(block).toContain('          - leads.scored\n');
      expect(block).toContain('          - reports.event-counts\n');
      expect(prettierUnformatted([join(root, FILES.helmValues)])).toEqual([]);
      // Idempotent on the block form too.
      expect(syncServices(root, { write: true }).changed).toEqual([]);
    });

    it('names a scope the list records for an app whose src/scopes.ts does not declare it', () => {
      editList(root, (list) => {
        const reporting = list.services.find((s) => s.name === 'reporting');
        reporting?.scopes.push('reports:export');
      });
      expect(problemsOf(root)).toEqual([
        `${LIST}: reporting records scope reports:export, which apps/reporting/src/scopes.ts does not declare`,
      ]);
    });

    it("names a scope an app's src/scopes.ts declares that the list does not record, never touching the app", () => {
      const real = read(REPO_ROOT, 'apps/leads/src/scopes.ts');
      const copy = ownAppFile(root, 'leads', 'src/scopes.ts');
      edit(root, 'apps/leads/src/scopes.ts', (text) =>
        text.replace(
          "routingRead: 'routing:read',",
          "routingRead: 'routing:read',\n  leadsExport: 'leads:export',",
        ),
      );
      expect(problemsOf(root)).toEqual([
        `apps/leads/src/scopes.ts: leads declares scope leads:export, which ${LIST} does not record for it`,
      ]);
      expect(copy).toBe(join(root, 'apps/leads/src/scopes.ts'));
      expect(read(REPO_ROOT, 'apps/leads/src/scopes.ts')).toBe(real);
    });

    it('names a scope an app no longer declares, and a scopes module without its constant', () => {
      ownAppFile(root, 'reporting', 'src/scopes.ts');
      edit(root, 'apps/reporting/src/scopes.ts', (text) => text.replace('ReportingScopes', 'Scopes'));
      ownAppFile(root, 'ingestion', 'src/scopes.ts');
      edit(root, 'apps/ingestion/src/scopes.ts', (text) => text.replace("  admin: 'admin',\n", ''));
      expect(problemsOf(root)).toEqual([
        `${LIST}: ingestion records scope admin, which apps/ingestion/src/scopes.ts does not declare`,
        "apps/reporting/src/scopes.ts: reporting's scopes do not load: it exports no object ReportingScopes",
      ]);
    });

    it('names a service without a src/scopes.ts', () => {
      // The link to the real app goes; a link to everything but scopes.ts takes its place.
      ownAppFile(root, 'sync', 'src/scopes.ts');
      rmSync(join(root, 'apps/sync/src/scopes.ts'));
      expect(problemsOf(root)).toEqual([
        `${LIST}: sync's scopes module apps/sync/src/scopes.ts does not exist (declare its scopes there, even none)`,
      ]);
      expect(existsSync(join(REPO_ROOT, 'apps/sync/src/scopes.ts'))).toBe(true);
    });

    it('names an app project the list does not have', () => {
      mkdirSync(join(root, 'apps', 'stray'));
      writeFileSync(
        join(root, 'apps', 'stray', 'project.json'),
        JSON.stringify({ name: 'stray', tags: ['type:app'] }),
      );
      expect(problemsOf(root)).toEqual([
        `apps: apps/ (projects tagged type:app) has stray, which ${LIST} does not list`,
      ]);
    });

    it('names a generated file whose markers are gone instead of guessing', () => {
      edit(root, FILES.dockerfile, (text) => text.replace(/^EXPOSE .*\n/m, ''));
      const { problems } = syncServices(root, { write: true });
      expect(describeProblems(problems)).toMatch(
        /Dockerfile: cannot find the EXPOSE line .*: update it by hand/,
      );
    });
  });

  describe('npm run new-service', () => {
    let root: string;
    beforeEach(() => {
      root = createScratchWorkspace();
    });
    afterEach(() => removeScratchWorkspace(root));

    it('creates a health-only app, lists it and syncs, leaving nothing to fix', () => {
      const result = generateService({ root, name: 'billing', port: 3105, sync: true });
      expect(result.files.sort()).toEqual(
        [
          'project.json',
          'tsconfig.app.json',
          'src/app.module.ts',
          'src/config.ts',
          'src/config.spec.ts',
          'src/index.ts',
          'src/main.ts',
          'src/scopes.ts',
        ]
          .map((f) => `apps/billing/${f}`)
          .sort(),
      );
      expect(result.entry).toEqual(billing);
      const project = JSON.parse(read(root, 'apps/billing/project.json')) as { name: string; tags: string[] };
      expect(project).toMatchObject({ name: 'billing', tags: ['type:app', 'scope:billing'] });
      expect(describeProblems(result.sync?.problems ?? [])).toBe('');
      expect(problemsOf(root)).toEqual([]);
      // No scopes yet: the list records none and src/scopes.ts declares none, ready for the first.
      expect(read(root, 'apps/billing/src/scopes.ts')).toContain('export const BillingScopes = {} as const;');
      // The list keeps its layout: one line per field, the new entry last.
      expect(read(root, LIST)).toContain(
        '"config": { "module": "apps/billing/src/config.ts", "loader": "loadBillingConfig" }\n    }\n  ],',
      );
    });

    it('with --consumes, adds one idempotent handler and says the catalog still has to list it', () => {
      const result = generateService({ root, name: 'billing', port: 3105, consumes: 'leads.scored' });
      expect(result.files).toContain('apps/billing/src/leads-scored.handler.ts');
      const handler = read(root, 'apps/billing/src/leads-scored.handler.ts');
      expect(handler).toContain('@EventPattern(Topics.LeadsScored)');
      expect(handler).toContain("this.processed.once('billing', event.metadata.eventId");
      expect(read(root, 'apps/billing/src/app.module.ts')).toContain('controllers: [LeadsScoredHandler]');
      expect(describeProblems(result.sync?.problems ?? [])).toBe(
        describeProblems([
          {
            file: FILES.catalog,
            message: `${LIST} says billing consumes, but no topic lists it as a consumer`,
          },
          { file: FILES.catalog, message: 'billing consumes, but there is no dlq.billing topic' },
        ]),
      );
    });

    it.each([
      [{ name: 'leads', port: 3105 }, /leads is already in tools\/services\/services\.json/],
      [{ name: 'runtime', port: 3105 }, /runtime is taken/],
      [{ name: 'Billing', port: 3105 }, /lower-case kebab-case/],
      [{ name: 'billing', port: 3001 }, /port 3001 is leads's/],
      [{ name: 'billing', port: 80 }, /port 80: 1024-65535/],
      [{ name: 'billing', port: 8081 }, /port 8081 is published by docker-compose\.yml's registry/],
      [
        { name: 'billing', port: 3105, consumes: 'no.such' },
        /topic no\.such is not in schemas\/catalog\.yaml/,
      ],
      [{ name: 'billing', port: 3105, consumes: 'dlq.sync' }, /dlq\.sync is a dead-letter topic/],
    ])('refuses %j, writing nothing', (options, reason) => {
      const before = read(root, LIST);
      expect(() => generateService({ root, ...options })).toThrow(reason);
      expect(read(root, LIST)).toBe(before);
      expect(existsSync(join(root, 'apps', 'billing'))).toBe(false);
    });
  });
});
