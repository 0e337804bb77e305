/**
 * `npm run new-service -- <name> --port <port> [--consumes <topic>]`: creates apps/<name> from a minimal template
 * (health endpoints only, or one idempotent consumer of a catalog topic; an empty src/scopes.ts), adds it to
 * tools/services/services.json and runs the sync, so tsconfig paths, the Dockerfile, docker-compose.yml, the Helm
 * chart and the e2e project know it.
 * What it cannot write (the catalog's consumers and dead-letter topic of a consumer) it prints as next steps.
 * `--root <dir>` works on another workspace (tests generate into a scratch copy).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { load } from 'js-yaml';
import { Topics } from '@tributary/contracts';
import {
  REPO_ROOT,
  SERVICE_LIST_FILE,
  SERVICE_NAME_PATTERN,
  parseServiceList,
  pascalName,
  readServiceList,
  scopesModuleOf,
  type ServiceEntry,
} from './service-list';
import { prettierWrite } from './format';
import { FILES, describeProblems, syncServices, type SyncOutcome } from './sync';

export interface NewServiceOptions {
  name: string;
  port: number;
  /** A catalog topic the template consumes; without it the service has health endpoints only. */
  consumes?: string;
  /** Workspace to write into (default: this repo). */
  root?: string;
  /** Run the sync afterwards (default true). */
  sync?: boolean;
}

export interface NewServiceResult {
  entry: ServiceEntry;
  /** Created files, relative to the root. */
  files: string[];
  /** The sync's outcome; its problems are the steps left to do by hand. */
  sync?: SyncOutcome;
}

/** Project names that are not services (Nx projects outside apps/). */
const RESERVED = ['tools', 'e2e'];

const camel = (name: string): string => pascalName(name).charAt(0).toLowerCase() + pascalName(name).slice(1);

/** Why the options cannot make a service in `root`, or nothing. */
function refusals(options: NewServiceOptions, root: string, services: readonly ServiceEntry[]): string[] {
  const { name, port, consumes } = options;
  const problems: string[] = [];
  if (!SERVICE_NAME_PATTERN.test(name) || name.length > 40)
    problems.push(`name ${name}: lower-case kebab-case, at most 40 characters (e.g. billing, lead-sync)`);
  const paths = (
    JSON.parse(readFileSync(join(root, FILES.tsconfig), 'utf8')) as {
      compilerOptions: { paths: Record<string, string[]> };
    }
  ).compilerOptions.paths;
  const taken = [...RESERVED, ...Object.keys(paths).map((alias) => alias.replace(/^@tributary\//, ''))];
  if (services.some((s) => s.name === name)) problems.push(`${name} is already in ${SERVICE_LIST_FILE}`);
  else if (taken.includes(name)) problems.push(`${name} is taken (a lib or project of that name exists)`);
  if (existsSync(join(root, 'apps', name))) problems.push(`apps/${name} already exists`);
  if (!Number.isInteger(port) || port < 1024 || port > 65535) problems.push(`port ${port}: 1024-65535`);
  const owner = services.find((s) => s.port === port);
  if (owner) problems.push(`port ${port} is ${owner.name}'s`);
  // The infrastructure's host ports too (registry 8081, Jaeger 16686, ...): compose publishes them side by side.
  const compose = load(readFileSync(join(root, FILES.compose), 'utf8')) as {
    services?: Record<string, { ports?: unknown[] }>;
  };
  for (const [other, { ports = [] }] of Object.entries(compose.services ?? {})) {
    const hosts = ports.map((p) => String(p).split(':').at(-2));
    if (!owner && hosts.includes(String(port)))
      problems.push(`port ${port} is published by ${FILES.compose}'s ${other}`);
  }
  if (consumes !== undefined) {
    const catalog = load(readFileSync(join(root, FILES.catalog), 'utf8')) as { topics: { name: string }[] };
    if (!catalog.topics.some((t) => t.name === consumes))
      problems.push(`topic ${consumes} is not in ${FILES.catalog}`);
    else if (consumes.startsWith('dlq.'))
      problems.push(`${consumes} is a dead-letter topic: the replay CLI reads those, not a service`);
    else if (!(Object.values(Topics) as string[]).includes(consumes))
      problems.push(`topic ${consumes} has no constant in @tributary/contracts yet: run npm run codegen`);
  }
  return problems;
}

/** The template's files by path under apps/<name>/ (unformatted). */
export function templateFiles(entry: ServiceEntry, consumes?: string): Map<string, string> {
  const { name, port } = entry;
  const P = pascalName(name);
  const files = new Map<string, string>();
  const app = `apps/${name}`;
  files.set(
    'project.json',
    `{
  "name": "${name}",
  "$schema": "../../node_modules/nx/schemas/project-schema.json",
  "projectType": "application",
  "sourceRoot": "${app}/src",
  "tags": ["type:app", "scope:${name}"],
  "targets": {
    "lint": { "executor": "nx:run-commands", "options": { "command": "eslint ${app}" } },
    "test": {
      "executor": "nx:run-commands",
      "options": { "command": "jest ${app} --passWithNoTests", "env": { "TRIBUTARY_TEST_SUITE": "unit" } }
    },
    "build": {
      "executor": "nx:run-commands",
      "options": { "command": "tsc -p ${app}/tsconfig.app.json && tsc-alias -p ${app}/tsconfig.app.json" }
    },
    "serve": { "executor": "nx:run-commands", "options": { "command": "node tools/run-ts.js ${app}/src/main.ts" } }
  }
}
`,
  );
  files.set(
    'tsconfig.app.json',
    `{
  "extends": "../../tsconfig.base.json",
  "compilerOptions": { "outDir": "../../dist/apps/${name}", "rootDir": "../..", "types": ["node"] },
  "include": ["src/**/*.ts"],
  "exclude": ["src/**/*.spec.ts", "src/**/testing/**"]
}
`,
  );
  files.set(
    'src/config.ts',
    `import { loadServiceConfig, type ServiceConfig } from '@tributary/config';

/** ${P}'s own settings (environment variable name: zod schema), on top of the shared ones. */
const ${camel(name)}Shape = {};

export type ${P}Config = ServiceConfig<typeof ${camel(name)}Shape>;

/** ${P}'s validated configuration (HTTP on ${port} by default). */
export function load${P}Config(env: Record<string, string | undefined> = process.env): ${P}Config {
  return loadServiceConfig('${name}', env, ${camel(name)}Shape, { HTTP_PORT: '${port}' });
}
`,
  );
  files.set(
    'src/config.spec.ts',
    `import { load${P}Config } from './config';

describe('${name} config', () => {
  it('defaults to the port, consumer group and database tools/services/services.json records', () => {
    expect(load${P}Config({})).toMatchObject({
      HTTP_PORT: ${port},
      CONSUMER_GROUP: '${entry.consumerGroup}',
      MONGO_DB: '${entry.database}',
    });
  });
});
`,
  );
  files.set(
    'src/scopes.ts',
    `/**
 * The credential scopes ${name}'s APIs honour: none yet. Declare each here and in tools/services/services.json
 * (npm run services:check compares the two), then run npm run codegen so ingestion's admin API can issue it.
 */
export const ${scopesModuleOf(entry).constant} = {} as const;
`,
  );
  files.set(
    'src/main.ts',
    `import { runServiceMain } from '@tributary/runtime';
import { ${P}Module } from './app.module';
import { load${P}Config } from './config';

runServiceMain(() => {
  const config = load${P}Config();
  return { module: ${P}Module.forRoot(config), config };
});
`,
  );
  const constant = consumes === undefined ? undefined : pascalName(consumes);
  const handler = constant && `${constant}Handler`;
  const handlerFile = consumes?.replace(/\./g, '-');
  files.set(
    'src/app.module.ts',
    `import { Module, type DynamicModule } from '@nestjs/common';
import { EventServiceModule } from '@tributary/runtime';
import type { ${P}Config } from './config';
${handler ? `import { ${handler} } from './${handlerFile}.handler';\n` : ''}
/** ${P}: ${consumes ? `consumes ${consumes}` : 'health endpoints so far'} (generated by npm run new-service). */
@Module({})
export class ${P}Module {
  static forRoot(config: ${P}Config): DynamicModule {
    return {
      module: ${P}Module,
      // Config, logger, its own database, Kafka, the registry, dedupe and /health/live + /health/ready.
      imports: [EventServiceModule.forRoot(config)],
      controllers: [${handler ?? ''}],
    };
  }
}
`,
  );
  if (consumes && handler) {
    files.set(
      `src/${handlerFile}.handler.ts`,
      `import { Controller, Inject } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { Topics, type TopicEvents } from '@tributary/contracts';
import { ProcessedEvents } from '@tributary/store';
import { SERVICE_LOGGER, type Logger } from '@tributary/observability';

type Event = TopicEvents[typeof Topics.${constant}];

/** Reads ${consumes} in consumer group ${entry.consumerGroup}; the work goes where the log line is. */
@Controller()
export class ${handler} {
  constructor(
    private readonly processed: ProcessedEvents,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {}

  @EventPattern(Topics.${constant})
  async onEvent(@Payload() event: Event): Promise<void> {
    // Marked done per event id, so a redelivery (rebalance, restart) does not repeat the work.
    await this.processed.once('${name}', event.metadata.eventId, async () => {
      this.logger.info({ eventId: event.metadata.eventId, workspaceId: event.metadata.workspaceId }, '${consumes} received');
    });
  }
}
`,
    );
  }
  files.set(
    'src/index.ts',
    `/** Public surface of ${name} for end-to-end tests (apps never import apps: lint enforces it). */
export { ${P}Module } from './app.module';
export { load${P}Config } from './config';
`,
  );
  return files;
}

/**
 * The list as JSON with one line per service field, as it is written by hand: Prettier keeps an object expanded
 * once it is, so a plain JSON.stringify would spread every `config` over four lines.
 */
function listJson(list: Record<string, unknown> & { services: unknown[] }): string {
  const entry = (service: unknown) =>
    `{\n${Object.entries(service as Record<string, unknown>)
      .map(([key, value]) => `${JSON.stringify(key)}: ${JSON.stringify(value)}`)
      .join(',\n')}\n}`;
  const members = Object.entries(list).map(([key, value]) =>
    key === 'services'
      ? `"services": [\n${list.services.map(entry).join(',\n')}\n]`
      : `${JSON.stringify(key)}: ${JSON.stringify(value, null, 2)}`,
  );
  return `{\n${members.join(',\n')}\n}\n`;
}

/** Creates the service in `options.root`; throws naming every reason when it cannot. */
export function generateService(options: NewServiceOptions): NewServiceResult {
  const root = options.root ?? REPO_ROOT;
  const listPath = join(root, SERVICE_LIST_FILE);
  const services = readServiceList(root).services;
  const problems = refusals(options, root, services);
  if (problems.length > 0) throw new Error(`cannot create ${options.name}:\n  ${problems.join('\n  ')}`);

  const entry: ServiceEntry = {
    name: options.name,
    port: options.port,
    consumerGroup: options.name,
    // What loadServiceConfig defaults to (libs/config/src/config.ts); the check compares the two.
    database: `tributary_${options.name}`,
    consumes: options.consumes !== undefined,
    scopes: [],
    config: { module: `apps/${options.name}/src/config.ts`, loader: `load${pascalName(options.name)}Config` },
  };
  // The list first (validated before anything is written), keeping its other keys and layout.
  const list = JSON.parse(readFileSync(listPath, 'utf8')) as Record<string, unknown> & {
    services: unknown[];
  };
  list.services.push(entry);
  const listText = listJson(list);
  parseServiceList(listText);

  const files: string[] = [];
  for (const [file, text] of templateFiles(entry, options.consumes)) {
    const path = join(root, 'apps', options.name, file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    files.push(relative(root, path));
  }
  writeFileSync(listPath, listText);
  // Names vary in length, so the template's line breaks are Prettier's to choose.
  prettierWrite([listPath, ...files.map((file) => join(root, file))]);
  const sync = options.sync === false ? undefined : syncServices(root, { write: true });
  return { entry, files, ...(sync ? { sync } : {}) };
}

function main(): void {
  const port = (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n)) throw new InvalidArgumentError('a port number');
    return n;
  };
  const program = new Command('new-service')
    .argument('<name>', 'service name, lower-case kebab-case (the app folder, consumer group and image name)')
    .requiredOption('--port <port>', 'default HTTP port (unused by the other services)', port)
    .option('--consumes <topic>', 'a schemas/catalog.yaml topic the template consumes (default: health only)')
    .option('--root <dir>', 'workspace to write into', REPO_ROOT)
    .parse();
  const opts = program.opts<{ port: number; consumes?: string; root: string }>();
  const [name = ''] = program.args;
  const result = generateService({ name, ...opts });
  console.log(
    `created apps/${name}/ (${result.files.length} files) and added ${name} to ${SERVICE_LIST_FILE}`,
  );
  for (const file of result.sync?.changed ?? []) console.log(`updated ${file}`);
  const steps = [
    `npx nx serve ${name}   (with the stack up: npm run stack -- up), then GET :${opts.port}/health/ready`,
    `npx jest apps/${name}`,
    `npm run codegen   (libs/contracts' generated services.ts lists the services and the scopes each honours)`,
    ...(opts.consumes
      ? [
          `schemas/catalog.yaml: add ${name} to the consumers of ${opts.consumes} and a dlq.${name} topic ` +
            '(like dlq.sync), then npm run codegen and npm run services:sync',
        ]
      : []),
    `README.md: add ${name} to the services table`,
  ];
  console.log(`\nNext:\n${steps.map((step) => `  - ${step}`).join('\n')}`);
  const left = result.sync?.problems ?? [];
  if (left.length > 0) console.log(`\nnpm run services:check still reports:\n${describeProblems(left)}`);
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
