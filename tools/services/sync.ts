/**
 * Brings every place that names the services in line with tools/services/services.json, or (check mode) says what
 * disagrees, naming the file and the service.
 *
 * Generated from the list: tsconfig.base.json paths of the apps, tests/e2e/project.json implicitDependencies, the
 * Dockerfile's SERVICE list and EXPOSE line, the Helm schema's services; docker-compose.yml and the Helm values get a
 * default block for a service they lack (and the values' kafkaLag topics from the catalog), hand-tuned blocks stay.
 * Checked only: apps/<name> projects, each service's config defaults (port, group, database), its scopes against
 * the ones its apps/<name>/src/scopes.ts declares, and the names schemas/catalog.yaml uses. (The scope vocabulary
 * generated into libs/contracts from the list is the codegen's to check: npm run codegen:check.)
 *
 *   npm run services:sync    rewrite what is generated, report the rest (exit 1 if anything is left)
 *   npm run services:check   change nothing; exit 1 on any disagreement (services.spec.ts runs it in every test run)
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import {
  REPO_ROOT,
  SERVICE_LIST_FILE,
  ServiceListError,
  configLoaderOf,
  declaredScopesOf,
  readServiceList,
  scopesModuleOf,
  type ServiceEntry,
  type ServiceList,
} from './service-list';
import { PRINT_WIDTH, formatJson } from './format';

/** One disagreement: the file it is in and what to do about it. */
export interface Problem {
  file: string;
  message: string;
}

export interface SyncOutcome {
  /** Files rewritten (write mode) or that would be (check mode). */
  changed: string[];
  problems: Problem[];
}

export const FILES = {
  tsconfig: 'tsconfig.base.json',
  e2e: 'tests/e2e/project.json',
  dockerfile: 'Dockerfile',
  compose: 'docker-compose.yml',
  helmValues: 'deploy/helm/tributary/values.yaml',
  helmSchema: 'deploy/helm/tributary/values.schema.json',
  catalog: 'schemas/catalog.yaml',
} as const;

/** Files the sync may rewrite (the catalog is only read). */
export const SYNCED_FILES: readonly string[] = [
  FILES.tsconfig,
  FILES.e2e,
  FILES.dockerfile,
  FILES.compose,
  FILES.helmValues,
  FILES.helmSchema,
];

const LIST = SERVICE_LIST_FILE;

interface CatalogTopic {
  name: string;
  producers: string[];
  consumers: string[];
}

interface Context {
  services: readonly ServiceEntry[];
  list: ServiceList;
  catalog: readonly CatalogTopic[];
}

/** The generated part of a file cannot be found (someone restructured it): fix by hand, naming what was expected. */
class StructureError extends Error {}

interface Target {
  file: string;
  /** The text with its generated parts brought up to date with the list. */
  render(text: string, ctx: Context): string;
  /** What in the text disagrees with the list, each message naming the service. */
  check(text: string, ctx: Context): string[];
}

function diffNames(what: string, found: readonly string[], expected: readonly string[]): string[] {
  return [
    ...expected.filter((n) => !found.includes(n)).map((n) => `${what} lacks ${n}, which ${LIST} lists`),
    ...found.filter((n) => !expected.includes(n)).map((n) => `${what} has ${n}, which ${LIST} does not list`),
  ];
}

const names = (ctx: Context): string[] => ctx.services.map((s) => s.name);

/** Topics the catalog says a service's group reads (reporting counts other groups' dead letters too). */
export function consumedTopics(catalog: readonly CatalogTopic[], service: string): string[] {
  return catalog.filter((t) => t.consumers.includes(service)).map((t) => t.name);
}

/**
 * Replaces the value of the one member `"key": {...}` or `"key": [...]` (nothing nested in it) with `value`, so the
 * rest of the file keeps its hand-chosen layout (Prettier keeps objects expanded once they are).
 */
function replaceJsonMember(text: string, key: string, value: unknown): string {
  const pattern = new RegExp(`("${key}"\\s*:\\s*)(\\{[^{}]*\\}|\\[[^\\[\\]]*\\])(,?)`);
  const count = [...text.matchAll(new RegExp(pattern.source, 'g'))].length;
  if (count !== 1) throw new StructureError(`expected one "${key}" object or array, found ${count}`);
  return text.replace(pattern, (_match, head: string, _old: string, comma: string, offset: number) => {
    const lineStart = text.lastIndexOf('\n', offset) + 1;
    const indent = /^ */.exec(text.slice(lineStart))?.[0].length ?? 0;
    return `${head}${formatJson(value, indent, offset - lineStart + head.length, comma.length)}${comma}`;
  });
}

// --- tsconfig.base.json -------------------------------------------------------------------------------------

interface TsconfigBase {
  compilerOptions: { paths: Record<string, string[]> };
}

const appIndex = (name: string): string => `apps/${name}/src/index.ts`;

function appAliases(json: TsconfigBase): [string, string][] {
  return Object.entries(json.compilerOptions.paths)
    .filter(([, [target]]) => target?.startsWith('apps/'))
    .map(([alias, [target]]) => [alias.replace(/^@tributary\//, ''), target ?? '']);
}

const tsconfigTarget: Target = {
  file: FILES.tsconfig,
  render(text, ctx) {
    const json = JSON.parse(text) as TsconfigBase;
    const libs = Object.entries(json.compilerOptions.paths).filter(([, [t]]) => !t?.startsWith('apps/'));
    const apps = ctx.services.map((s) => [`@tributary/${s.name}`, [appIndex(s.name)]] as const);
    return replaceJsonMember(text, 'paths', Object.fromEntries([...libs, ...apps]));
  },
  check(text, ctx) {
    const aliases = appAliases(JSON.parse(text) as TsconfigBase);
    const wrong = aliases
      .filter(([name, target]) => names(ctx).includes(name) && target !== appIndex(name))
      .map(([name, target]) => `paths maps @tributary/${name} to ${target}, not ${appIndex(name)}`);
    return [
      ...diffNames(
        'paths (@tributary/<service>)',
        aliases.map(([name]) => name),
        names(ctx),
      ),
      ...wrong,
    ];
  },
};

// --- tests/e2e/project.json ---------------------------------------------------------------------------------

interface ProjectJson {
  name?: string;
  tags?: string[];
  implicitDependencies?: string[];
}

const e2eTarget: Target = {
  file: FILES.e2e,
  render(text, ctx) {
    return replaceJsonMember(text, 'implicitDependencies', names(ctx));
  },
  check(text, ctx) {
    return diffNames(
      'implicitDependencies',
      (JSON.parse(text) as ProjectJson).implicitDependencies ?? [],
      names(ctx),
    );
  },
};

// --- Dockerfile -----------------------------------------------------------------------------------------------

const DOCKERFILE = {
  caseList: /^(\s+)([a-z0-9-]+(?:\|[a-z0-9-]+)*)(\) ;; \\)$/m,
  comment: /^(# SERVICE is one of: )(.*)(\.)$/m,
  usage: /(--build-arg SERVICE=<)([a-z0-9|-]+)(>)/,
  expose: /^(EXPOSE )(.*)()$/m,
};

/** Replaces group 2 of the one match of `pattern` (groups 1 and 3 stay); a StructureError unless exactly one. */
function replaceOnly(text: string, pattern: RegExp, what: string, value: string): string {
  const count = [...text.matchAll(new RegExp(pattern.source, `${pattern.flags}g`))].length;
  if (count !== 1) throw new StructureError(`cannot find the ${what} (${count} matches of ${pattern})`);
  return text.replace(
    pattern,
    (_m, before: string, _old: string, after: string) => `${before}${value}${after}`,
  );
}

const dockerfileTarget: Target = {
  file: FILES.dockerfile,
  render(text, ctx) {
    let out = replaceOnly(text, DOCKERFILE.caseList, 'SERVICE case list', names(ctx).join('|'));
    out = replaceOnly(out, DOCKERFILE.comment, '"SERVICE is one of" comment', names(ctx).join(', '));
    out = replaceOnly(out, DOCKERFILE.usage, 'SERVICE usage message', names(ctx).join('|'));
    return replaceOnly(out, DOCKERFILE.expose, 'EXPOSE line', ctx.services.map((s) => s.port).join(' '));
  },
  check(text, ctx) {
    const listed = DOCKERFILE.caseList.exec(text)?.[2]?.split('|') ?? [];
    const exposed = (DOCKERFILE.expose.exec(text)?.[2] ?? '').split(/\s+/).filter(Boolean);
    return [
      ...diffNames('the SERVICE case list', listed, names(ctx)),
      ...ctx.services
        .filter((s) => !exposed.includes(String(s.port)))
        .map((s) => `EXPOSE lacks ${s.name}'s port ${s.port} (${LIST})`),
    ];
  },
};

// --- deploy/helm/tributary/values.schema.json -------------------------------------------------------------

interface ValuesSchema {
  properties: { services: { required?: string[]; properties?: Record<string, unknown> } };
  definitions?: { service?: unknown };
}

const helmSchemaTarget: Target = {
  file: FILES.helmSchema,
  render(text, ctx) {
    const json = JSON.parse(text) as ValuesSchema;
    if (!json.definitions?.service)
      throw new StructureError('no definitions.service (the per-service block)');
    json.properties.services.required = names(ctx);
    json.properties.services.properties = Object.fromEntries(
      ctx.services.map((s) => [
        s.name,
        { allOf: [{ $ref: '#/definitions/service' }], properties: { port: { default: s.port } } },
      ]),
    );
    return `${formatJson(json)}\n`;
  },
  check(text, ctx) {
    const services = (JSON.parse(text) as ValuesSchema).properties.services;
    return [
      ...diffNames('services.required', services.required ?? [], names(ctx)),
      ...diffNames('services.properties', Object.keys(services.properties ?? {}), names(ctx)),
    ];
  },
};

// --- YAML blocks (docker-compose.yml, values.yaml) ---------------------------------------------------------

/** Line range [start, end) of the body of top-level key `key:` (up to the next top-level line). */
function topLevelRegion(lines: readonly string[], key: string, file: string): [number, number] {
  const start = lines.findIndex((line) => line === `${key}:`);
  if (start < 0) throw new StructureError(`${file} has no top-level "${key}:"`);
  let end = lines.findIndex((line, i) => i > start && /^\S/.test(line));
  if (end < 0) end = lines.length;
  // Trailing blank lines belong between regions, not to the last block.
  while (end > start + 1 && (lines[end - 1] ?? '').trim() === '') end -= 1;
  return [start + 1, end];
}

/** The keys two spaces in, within a region, with their line ranges. */
function childBlocks(
  lines: readonly string[],
  [start, end]: [number, number],
): Map<string, [number, number]> {
  const heads: [string, number][] = [];
  for (let i = start; i < end; i += 1) {
    const match = /^ {2}([A-Za-z0-9_-]+):/.exec(lines[i] ?? '');
    if (match?.[1]) heads.push([match[1], i]);
  }
  return new Map(heads.map(([name, at], i) => [name, [at, heads[i + 1]?.[1] ?? end]]));
}

/** Appends blocks for the listed services a region lacks (each after a blank line), keeping everything else. */
function appendMissing(
  text: string,
  file: string,
  region: string,
  ctx: Context,
  block: (service: ServiceEntry) => string,
): string {
  const lines = text.split('\n');
  const range = topLevelRegion(lines, region, file);
  const present = childBlocks(lines, range);
  const missing = ctx.services.filter((s) => !present.has(s.name));
  if (missing.length === 0) return text;
  lines.splice(range[1], 0, ...missing.flatMap((s) => ['', ...block(s).trimEnd().split('\n')]));
  return lines.join('\n');
}

// --- docker-compose.yml ---------------------------------------------------------------------------------------

interface ComposeService {
  build?: string | { args?: Record<string, string> | string[] };
  environment?: Record<string, string | number> | string[];
  ports?: (string | number | object)[];
  healthcheck?: { test?: string | string[] };
}

function composeBlock(s: ServiceEntry): string {
  const probe = `fetch('http://127.0.0.1:${s.port}/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`;
  return [
    `  ${s.name}:`,
    '    <<: *service',
    '    build:',
    '      context: .',
    '      args:',
    `        SERVICE: ${s.name}`,
    `    image: tributary/${s.name}:local`,
    '    environment:',
    '      <<: *service-env',
    `      HTTP_PORT: '${s.port}'`,
    '    ports:',
    `      - '${s.port}:${s.port}'`,
    '    healthcheck:',
    '      test:',
    '        - CMD',
    '        - node',
    '        - -e',
    `        - "${probe}"`,
    '      interval: 10s',
    '      timeout: 5s',
    '      retries: 6',
    '      start_period: 60s',
  ].join('\n');
}

/** The compose services built from the Dockerfile for a service, by compose name, with their SERVICE argument. */
function builtServices(compose: {
  services?: Record<string, ComposeService>;
}): [string, string, ComposeService][] {
  return Object.entries(compose.services ?? {}).flatMap(([name, service]) => {
    const args = typeof service.build === 'object' ? service.build.args : undefined;
    const arg = Array.isArray(args)
      ? args.find((a) => a.startsWith('SERVICE='))?.slice('SERVICE='.length)
      : args?.['SERVICE'];
    return arg === undefined ? [] : [[name, arg, service] as [string, string, ComposeService]];
  });
}

const composeTarget: Target = {
  file: FILES.compose,
  render: (text, ctx) => appendMissing(text, FILES.compose, 'services', ctx, composeBlock),
  check(text, ctx) {
    const built = builtServices(load(text) as { services?: Record<string, ComposeService> });
    const problems = diffNames(
      'services built from the Dockerfile',
      built.map(([name]) => name),
      names(ctx),
    );
    for (const [name, arg, service] of built) {
      if (arg !== name) problems.push(`service ${name} builds SERVICE=${arg}; they must be the same name`);
      const entry = ctx.services.find((s) => s.name === name);
      if (!entry) continue;
      const env = Array.isArray(service.environment) ? {} : (service.environment ?? {});
      const port = String(entry.port);
      if (String(env['HTTP_PORT']) !== port)
        problems.push(`${name} has HTTP_PORT ${String(env['HTTP_PORT'])}, but ${LIST} says ${port}`);
      if (JSON.stringify(service.ports) !== JSON.stringify([`${port}:${port}`]))
        problems.push(`${name} publishes ${JSON.stringify(service.ports)}, but ${LIST} says ${port}:${port}`);
      const test = service.healthcheck?.test;
      if (!(Array.isArray(test) ? test.join(' ') : (test ?? '')).includes(`:${port}/health/ready`))
        problems.push(`${name}'s healthcheck does not probe :${port}/health/ready (${LIST})`);
    }
    return problems;
  },
};

// --- deploy/helm/tributary/values.yaml ----------------------------------------------------------------------

interface HelmValues {
  services?: Record<string, { port?: number; autoscaling?: { kafkaLag?: { topics?: string[] } } }>;
}

function valuesBlock(s: ServiceEntry, topics: readonly string[]): string {
  return [
    `  ${s.name}:`,
    '    enabled: true',
    `    port: ${s.port}`,
    '    replicas: 2',
    '    env: {}',
    '    secretEnv: {}',
    '    extraEnv: []',
    '    resources:',
    '      requests:',
    '        cpu: 100m',
    '        memory: 256Mi',
    '      limits:',
    "        cpu: '1'",
    '        memory: 512Mi',
    '    autoscaling:',
    '      enabled: true',
    '      minReplicas: 2',
    '      maxReplicas: 6',
    '      targetCPUUtilizationPercentage: 70',
    '      behavior:',
    '        scaleDown:',
    '          stabilizationWindowSeconds: 300',
    '      kafkaLag:',
    '        enabled: false',
    `        topics: [${topics.join(', ')}]`,
    "        lagThreshold: '500'",
    '    pdb:',
    '      enabled: true',
    '      maxUnavailable: 1',
  ].join('\n');
}

/**
 * Rewrites each service's `kafkaLag: topics:` to the topics the catalog says it consumes: `[a, b]` when the line fits,
 * else one `- topic` a line (what Prettier would make of a long flow list is hard to read).
 */
function syncLagTopics(text: string, ctx: Context): string {
  const lines = text.split('\n');
  const blocks = childBlocks(lines, topLevelRegion(lines, 'services', FILES.helmValues));
  // Bottom-up, so a rewrite that changes the line count leaves the ranges above it valid.
  const listed = ctx.services
    .flatMap((s) => (blocks.has(s.name) ? [[s.name, blocks.get(s.name) as [number, number]] as const] : []))
    .sort(([, a], [, b]) => b[0] - a[0]);
  for (const [name, [start, end]] of listed) {
    const lag = lines.findIndex((line, i) => i >= start && i < end && /^\s+kafkaLag:\s*$/.test(line));
    if (lag < 0) throw new StructureError(`services.${name} has no autoscaling.kafkaLag block`);
    const at = lines.findIndex((line, i) => i > lag && i < end && /^\s+topics:/.test(line));
    const match = /^(\s+)topics:(.*)$/.exec(lines[at] ?? '');
    if (at < 0 || !match) throw new StructureError(`services.${name}.autoscaling.kafkaLag has no topics`);
    const [indent, rest] = [match[1] ?? '', match[2]?.trim() ?? ''];
    let last = at + 1;
    if (rest === '') while (lines[last]?.startsWith(`${indent}  - `)) last += 1;
    else if (!/^\[.*\]$/.test(rest))
      throw new StructureError(`services.${name}.autoscaling.kafkaLag.topics is neither [a, b] nor a - list`);
    const topics = consumedTopics(ctx.catalog, name);
    const flow = `${indent}topics: [${topics.join(', ')}]`;
    const block = [`${indent}topics:`, ...topics.map((topic) => `${indent}  - ${topic}`)];
    lines.splice(at, last - at, ...(flow.length <= PRINT_WIDTH ? [flow] : block));
  }
  return lines.join('\n');
}

const helmValuesTarget: Target = {
  file: FILES.helmValues,
  render(text, ctx) {
    const block = (s: ServiceEntry) => valuesBlock(s, consumedTopics(ctx.catalog, s.name));
    return syncLagTopics(appendMissing(text, FILES.helmValues, 'services', ctx, block), ctx);
  },
  check(text, ctx) {
    const services = (load(text) as HelmValues).services ?? {};
    const problems = diffNames('services', Object.keys(services), names(ctx));
    for (const entry of ctx.services) {
      const values = services[entry.name];
      if (!values) continue;
      if (values.port !== entry.port)
        problems.push(
          `services.${entry.name}.port is ${String(values.port)}, but ${LIST} says ${entry.port}`,
        );
      const topics = values.autoscaling?.kafkaLag?.topics ?? [];
      const consumed = consumedTopics(ctx.catalog, entry.name);
      if ([...topics].sort().join() !== [...consumed].sort().join())
        problems.push(
          `services.${entry.name}.autoscaling.kafkaLag.topics is [${topics.join(', ')}], but ${FILES.catalog} ` +
            `has ${entry.name} consume [${consumed.join(', ')}]`,
        );
    }
    return problems;
  },
};

const TARGETS: readonly Target[] = [
  tsconfigTarget,
  e2eTarget,
  dockerfileTarget,
  composeTarget,
  helmValuesTarget,
  helmSchemaTarget,
];

// --- Checks that generate nothing ---------------------------------------------------------------------------

/** schemas/catalog.yaml names only listed services (or known non-services); groups and their DLQs agree. */
function checkCatalog(ctx: Context): string[] {
  const problems: string[] = [];
  const known = new Set([...names(ctx), ...ctx.list.nonServiceParties]);
  for (const topic of ctx.catalog) {
    for (const [role, parties] of [
      ['producer', topic.producers],
      ['consumer', topic.consumers],
    ] as const) {
      for (const party of parties.filter((p) => !known.has(p)))
        problems.push(
          `${topic.name} names ${party} as a ${role}, which is neither a service in ${LIST} nor one of its nonServiceParties`,
        );
    }
    if (!topic.name.startsWith('dlq.')) continue;
    const group = topic.name.slice('dlq.'.length);
    const owner = ctx.services.find((s) => s.consumerGroup === group);
    if (!owner)
      problems.push(
        `${topic.name} is the dead-letter topic of group ${group}, which no service in ${LIST} has`,
      );
    else if (!owner.consumes)
      problems.push(`${topic.name} exists, but ${LIST} says ${owner.name} consumes nothing`);
    else if (topic.producers.join() !== owner.name)
      problems.push(`${topic.name} must have ${owner.name} (its group's service) as its only producer`);
  }
  for (const service of ctx.services) {
    const consumed = consumedTopics(ctx.catalog, service.name);
    const dlq = ctx.catalog.some((t) => t.name === `dlq.${service.consumerGroup}`);
    if (service.consumes && consumed.length === 0)
      problems.push(`${LIST} says ${service.name} consumes, but no topic lists it as a consumer`);
    if (!service.consumes && consumed.length > 0)
      problems.push(`${service.name} consumes ${consumed.join(', ')}, but ${LIST} says consumes: false`);
    if (service.consumes && !dlq)
      problems.push(`${service.name} consumes, but there is no dlq.${service.consumerGroup} topic`);
  }
  return problems;
}

/** Every listed service is an app project of that name, and every app project is listed. */
function checkApps(root: string, ctx: Context): Problem[] {
  const problems: Problem[] = [];
  const appsDir = join(root, 'apps');
  const dirs = existsSync(appsDir) ? readdirSync(appsDir) : [];
  const projects = dirs.flatMap((dir) => {
    const file = join(appsDir, dir, 'project.json');
    return existsSync(file) ? [[dir, JSON.parse(readFileSync(file, 'utf8')) as ProjectJson] as const] : [];
  });
  const apps = projects.filter(([, p]) => p.tags?.includes('type:app'));
  for (const message of diffNames(
    'apps/ (projects tagged type:app)',
    apps.map(([dir]) => dir),
    names(ctx),
  ))
    problems.push({ file: 'apps', message });
  for (const [dir, project] of apps.filter(([d]) => names(ctx).includes(d))) {
    if (project.name !== dir)
      problems.push({ file: `apps/${dir}/project.json`, message: `name is ${project.name}, not ${dir}` });
  }
  return problems;
}

/** Each service's config, with nothing set, resolves to the list's port, consumer group and database. */
function checkConfigDefaults(root: string, ctx: Context): Problem[] {
  const problems: Problem[] = [];
  for (const service of ctx.services) {
    const file = service.config.module;
    if (!existsSync(join(root, file))) {
      problems.push({ file: LIST, message: `${service.name}'s config module ${file} does not exist` });
      continue;
    }
    try {
      const config = configLoaderOf(service, root)({});
      const expected = {
        HTTP_PORT: service.port,
        CONSUMER_GROUP: service.consumerGroup,
        MONGO_DB: service.database,
      };
      for (const [key, value] of Object.entries(expected)) {
        const actual = (config as unknown as Record<string, unknown>)[key];
        if (actual !== value)
          problems.push({
            file,
            message: `${service.name} defaults ${key} to ${String(actual)}, ${LIST} says ${value}`,
          });
      }
    } catch (error) {
      problems.push({
        file,
        message: `${service.name}'s config does not load with defaults: ${(error as Error).message}`,
      });
    }
  }
  return problems;
}

/**
 * Each service's src/scopes.ts declares exactly the scopes the list records for it: the list's union is what the
 * codegen makes the vocabulary credentials are issued from, so a scope an app honours but the list lacks could not be
 * issued, and one the list keeps after the app dropped it would still be.
 */
function checkScopes(root: string, ctx: Context): Problem[] {
  const problems: Problem[] = [];
  for (const service of ctx.services) {
    const { module } = scopesModuleOf(service);
    if (!existsSync(join(root, module))) {
      problems.push({
        file: LIST,
        message: `${service.name}'s scopes module ${module} does not exist (declare its scopes there, even none)`,
      });
      continue;
    }
    let declared: string[];
    try {
      declared = declaredScopesOf(service, root);
    } catch (error) {
      problems.push({
        file: module,
        message: `${service.name}'s scopes do not load: ${(error as Error).message}`,
      });
      continue;
    }
    for (const scope of declared.filter((s) => !service.scopes.includes(s)))
      problems.push({
        file: module,
        message: `${service.name} declares scope ${scope}, which ${LIST} does not record for it`,
      });
    for (const scope of service.scopes.filter((s) => !declared.includes(s)))
      problems.push({
        file: LIST,
        message: `${service.name} records scope ${scope}, which ${module} does not declare`,
      });
  }
  return problems;
}

// --- Running it -----------------------------------------------------------------------------------------------

function readCatalog(root: string): CatalogTopic[] {
  const parsed = load(readFileSync(join(root, FILES.catalog), 'utf8')) as { topics?: CatalogTopic[] };
  return (parsed.topics ?? []).map((t) => ({
    name: t.name,
    producers: t.producers ?? [],
    consumers: t.consumers ?? [],
  }));
}

/**
 * Syncs (write) or checks (no write) the workspace at `root` against its list. Problems are what the sync cannot fix
 * (or, in check mode, everything out of line); `changed` are the files rewritten or due a rewrite.
 */
export function syncServices(root: string = REPO_ROOT, options: { write: boolean }): SyncOutcome {
  let list: ServiceList;
  try {
    list = readServiceList(root);
  } catch (error) {
    if (error instanceof ServiceListError)
      return { changed: [], problems: error.problems.map((message) => ({ file: LIST, message })) };
    throw error;
  }
  const ctx: Context = { list, services: list.services, catalog: readCatalog(root) };
  const changed: string[] = [];
  const problems: Problem[] = [];
  for (const target of TARGETS) {
    const path = join(root, target.file);
    if (!existsSync(path)) {
      problems.push({ file: target.file, message: 'missing' });
      continue;
    }
    const text = readFileSync(path, 'utf8');
    let expected: string;
    try {
      expected = target.render(text, ctx);
    } catch (error) {
      if (!(error instanceof StructureError)) throw error;
      problems.push({ file: target.file, message: `${error.message}: update it by hand` });
      expected = text;
    }
    if (expected !== text) {
      changed.push(target.file);
      if (options.write) writeFileSync(path, expected);
    }
    const messages = target.check(options.write ? expected : text, ctx);
    if (!options.write && expected !== text && messages.length === 0)
      messages.push(`out of date with ${LIST} (run npm run services:sync)`);
    problems.push(...messages.map((message) => ({ file: target.file, message })));
  }
  problems.push(...checkCatalog(ctx).map((message) => ({ file: FILES.catalog, message })));
  problems.push(...checkApps(root, ctx));
  problems.push(...checkConfigDefaults(root, ctx));
  problems.push(...checkScopes(root, ctx));
  return { changed, problems };
}

/** One line per problem, `file: message`. */
export function describeProblems(problems: readonly Problem[]): string {
  return problems.map((p) => `  ${p.file}: ${p.message}`).join('\n');
}

function main(): void {
  const args = process.argv.slice(2);
  const check = args.includes('--check');
  const rootAt = args.indexOf('--root');
  const root = rootAt >= 0 ? (args[rootAt + 1] ?? '') : REPO_ROOT;
  const { changed, problems } = syncServices(root, { write: !check });
  if (!check) for (const file of changed) console.log(`updated ${file}`);
  if (problems.length > 0) {
    console.error(`${problems.length} place(s) disagree with ${LIST}:\n${describeProblems(problems)}`);
    console.error(
      check
        ? 'Generated files are fixed by `npm run services:sync`; the rest need a hand edit.'
        : 'These need a hand edit (the sync generates only what it can).',
    );
    process.exit(1);
  }
  console.log(check ? `everything agrees with ${LIST}` : `in sync with ${LIST}`);
}

// tools/run-ts.js requires the entry itself, so require.main is run-ts.js; it sets argv[1] to the entry.
if (process.argv[1] === __filename) {
  try {
    main();
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  }
}
