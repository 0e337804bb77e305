/**
 * Typed access to tools/services/services.json, the one list of Tributary's services. Everything that names the
 * services (tools/dev, the deploy specs, the sync and its checks, the new-service generator) goes through here, so
 * a malformed list fails once with every problem named instead of somewhere downstream.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { ServiceConfig } from '@tributary/config';

/** The repository root (this file is tools/services/service-list.ts). */
export const REPO_ROOT = join(__dirname, '..', '..');
/** Where the list lives, relative to a workspace root. */
export const SERVICE_LIST_FILE = 'tools/services/services.json';

/** Kebab-case, so it works as a directory, Kafka group, database suffix, image and Kubernetes name. */
export const SERVICE_NAME_PATTERN = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/**
 * A scope: lower-case words joined by colons, a `<name>` part standing for one id each (`webhooks:<source>`).
 * No spaces (OAuth's `scope` parameter is space-separated) and never `*`, which grants every scope.
 */
export const SCOPE_PATTERN = /^[a-z][a-z0-9-]*(:([a-z][a-z0-9-]*|<[a-z]+>))*$/;

const serviceSchema = z
  .object({
    name: z.string().max(40).regex(SERVICE_NAME_PATTERN, 'lower-case kebab-case (e.g. billing, lead-sync)'),
    port: z.number().int().min(1024).max(65535),
    // A group without a dot: test groups are `<service>.<run>`, and tools/stack/leftovers.ts deletes their DLQs.
    consumerGroup: z.string().regex(/^[a-z][a-z0-9-]*$/, 'no dots (test groups are <service>.<run>)'),
    database: z.string().regex(/^tributary_[a-z0-9_-]+$/, 'tributary_<name> (test databases are test_*)'),
    consumes: z.boolean(),
    scopes: z.array(
      z.string().regex(SCOPE_PATTERN, 'lower-case words joined by colons, <name> for a per-id part'),
    ),
    config: z.object({
      module: z.string().regex(/^apps\/.+\.ts$/, 'a .ts file under apps/'),
      loader: z.string().regex(/^[A-Za-z_$][\w$]*$/, 'an exported function name'),
    }),
  })
  .strict();

const listSchema = z.object({
  $comment: z.array(z.string()).optional(),
  services: z.array(serviceSchema).min(1),
  nonServiceParties: z.array(z.string().min(1)),
});

/** One service as the list records it. */
export type ServiceEntry = z.infer<typeof serviceSchema>;
/** The whole list file. */
export type ServiceList = z.infer<typeof listSchema>;

/** A list that does not parse, with every problem. */
export class ServiceListError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: ${problems.join('; ')}`);
    this.name = 'ServiceListError';
  }
}

/** Problems a parsed list can still have: duplicates the schema cannot see. */
function crossProblems(list: ServiceList): string[] {
  const problems: string[] = [];
  const dupes = (values: readonly (string | number)[]) =>
    [...new Set(values.filter((v, i) => values.indexOf(v) !== i))].map(String);
  for (const name of dupes(list.services.map((s) => s.name)))
    problems.push(`service ${name} is listed twice`);
  for (const port of dupes(list.services.map((s) => s.port))) problems.push(`port ${port} is used twice`);
  for (const group of dupes(list.services.map((s) => s.consumerGroup)))
    problems.push(`consumer group ${group} is used twice`);
  for (const db of dupes(list.services.map((s) => s.database))) problems.push(`database ${db} is used twice`);
  for (const party of list.nonServiceParties.filter((p) => list.services.some((s) => s.name === p)))
    problems.push(`${party} is both a service and a non-service party`);
  return problems;
}

/** Parses and validates list text (exported for the generator, which validates before it writes). */
export function parseServiceList(text: string, file = SERVICE_LIST_FILE): ServiceList {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ServiceListError(file, [`not JSON: ${(error as Error).message}`]);
  }
  const parsed = listSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ServiceListError(
      file,
      parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`),
    );
  }
  const problems = crossProblems(parsed.data);
  if (problems.length > 0) throw new ServiceListError(file, problems);
  return parsed.data;
}

/** The list of the workspace at `root` (the repo by default). */
export function readServiceList(root: string = REPO_ROOT): ServiceList {
  return parseServiceList(readFileSync(join(root, SERVICE_LIST_FILE), 'utf8'));
}

/** The repo's services, in list order. */
export const SERVICE_ENTRIES: readonly ServiceEntry[] = readServiceList().services;

/** The repo's service names, in list order. */
export const SERVICE_NAMES: readonly string[] = SERVICE_ENTRIES.map((s) => s.name);

/** The entry of a listed service; throws naming the list when it is not listed. */
export function serviceEntry(name: string, entries: readonly ServiceEntry[] = SERVICE_ENTRIES): ServiceEntry {
  const entry = entries.find((s) => s.name === name);
  if (!entry) throw new Error(`${name} is not a service in ${SERVICE_LIST_FILE}`);
  return entry;
}

/** `lead-sync` → `LeadSync`: the prefix of a service's exported names (`loadLeadSyncConfig`, `LeadSyncScopes`). */
export function pascalName(name: string): string {
  return name
    .split(/[.-]/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/** Where a service declares the scopes its APIs honour, and the constant it exports there (`LeadsScopes`). */
export function scopesModuleOf(entry: Pick<ServiceEntry, 'name'>): { module: string; constant: string } {
  return { module: `apps/${entry.name}/src/scopes.ts`, constant: `${pascalName(entry.name)}Scopes` };
}

/**
 * The scopes a service's src/scopes.ts declares (its constant's values), required by path like its config loader;
 * throws saying what is wrong when the module does not export that constant as an object of strings.
 */
export function declaredScopesOf(entry: ServiceEntry, root: string = REPO_ROOT): string[] {
  const { module, constant } = scopesModuleOf(entry);
  const exported: unknown = (require(join(root, module)) as Record<string, unknown>)[constant];
  if (typeof exported !== 'object' || exported === null || Array.isArray(exported))
    throw new Error(`it exports no object ${constant}`);
  const values: unknown[] = Object.values(exported);
  if (!values.every((value): value is string => typeof value === 'string'))
    throw new Error(`${constant} has a value that is not a scope string`);
  return values;
}

/** Loads a service's validated configuration from an env-like record. */
export type ConfigLoader = (env: Record<string, string | undefined>) => ServiceConfig;

/**
 * The service's own config loader, required from the module the list names (by path: tools may not import apps
 * through the module-boundary rule, and the list, not an import, decides which services there are).
 */
export function configLoaderOf(entry: ServiceEntry, root: string = REPO_ROOT): ConfigLoader {
  const file = join(root, entry.config.module);
  const exported: unknown = (require(file) as Record<string, unknown>)[entry.config.loader];
  if (typeof exported !== 'function') {
    throw new Error(
      `${entry.config.module} exports no function ${entry.config.loader} (${SERVICE_LIST_FILE})`,
    );
  }
  return exported as ConfigLoader;
}
