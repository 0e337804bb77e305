import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { Type, type Schema } from 'avsc';

/** One topic as declared in schemas/catalog.yaml. */
export interface CatalogTopic {
  name: string;
  description: string;
  schema: string;
  key: string;
  producers: string[];
  consumers: string[];
  partitions: number;
  retention: string;
}

/** A catalog topic with its self-contained Avro schema (shared named types inlined). */
export interface ResolvedTopic extends CatalogTopic {
  subject: string;
  recordName: string;
  avroSchema: Record<string, unknown>;
}

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

function loadSharedTypes(schemasDir: string): Map<string, Json> {
  const shared = new Map<string, Json>();
  for (const file of readdirSync(join(schemasDir, 'common')).filter((f) => f.endsWith('.avsc'))) {
    const schema = JSON.parse(readFileSync(join(schemasDir, 'common', file), 'utf8')) as {
      name: string;
      namespace?: string;
    };
    shared.set(
      schema.namespace ? `${schema.namespace}.${schema.name}` : schema.name,
      schema as unknown as Json,
    );
  }
  return shared;
}

/** Replaces the first reference to each shared named type by its definition, so the registered schema stands alone. */
function inlineSharedTypes(node: Json, shared: Map<string, Json>, defined: Set<string>): Json {
  if (typeof node === 'string') {
    if (PRIMITIVES.has(node) || defined.has(node) || !shared.has(node)) return node;
    defined.add(node);
    return inlineSharedTypes(structuredClone(shared.get(node) as Json), shared, defined);
  }
  if (Array.isArray(node)) return node.map((item) => inlineSharedTypes(item, shared, defined));
  if (node && typeof node === 'object') {
    const out: { [key: string]: Json } = {};
    for (const [key, value] of Object.entries(node)) {
      out[key] =
        key === 'type' || key === 'items' || key === 'values' || key === 'fields'
          ? inlineSharedTypes(value, shared, defined)
          : value;
    }
    if (typeof out['name'] === 'string' && (out['type'] === 'record' || out['type'] === 'enum')) {
      const ns = typeof out['namespace'] === 'string' ? `${out['namespace']}.` : '';
      defined.add(`${ns}${out['name']}`);
    }
    return out;
  }
  return node;
}

/** Reads the catalog and every schema it names; throws on an invalid schema or catalog entry. */
export function loadCatalog(schemasDir: string): ResolvedTopic[] {
  const catalog = loadYaml(readFileSync(join(schemasDir, 'catalog.yaml'), 'utf8')) as {
    topics: CatalogTopic[];
  };
  const shared = loadSharedTypes(schemasDir);
  const seen = new Set<string>();
  return catalog.topics.map((topic) => {
    for (const field of ['name', 'description', 'schema', 'key', 'retention'] as const) {
      if (typeof topic[field] !== 'string' || topic[field].length === 0) {
        throw new Error(`catalog.yaml: topic ${topic.name ?? '?'} needs a non-empty "${field}"`);
      }
    }
    if (seen.has(topic.name)) throw new Error(`catalog.yaml: topic ${topic.name} is listed twice`);
    seen.add(topic.name);
    const raw = JSON.parse(readFileSync(join(schemasDir, topic.schema), 'utf8')) as Json;
    const avroSchema = inlineSharedTypes(raw, shared, new Set()) as Record<string, unknown>;
    // Parsing proves the schema is valid Avro with every reference resolved.
    Type.forSchema(avroSchema as unknown as Schema);
    return { ...topic, subject: `${topic.name}-value`, recordName: String(avroSchema['name']), avroSchema };
  });
}
