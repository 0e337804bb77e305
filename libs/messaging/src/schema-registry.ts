import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { ConfluentSchemaRegistryCompatibilityError } from '@kafkajs/confluent-schema-registry/dist/errors';
import { Type } from 'avsc';
import { Catalog, type TopicName, type TopicEvents } from '@tributary/contracts';
import type { ReadinessCheck } from '@tributary/observability';

/** Decoding failed: the bytes are not a registered Avro record (a poison message, never retried). */
export class UndecodableMessageError extends Error {
  override name = 'UndecodableMessageError';
}

/**
 * Avro SerDe over a Confluent-compatible registry (Apicurio's ccompat API in dev, Confluent or Apicurio in prod).
 * Subjects follow the TopicNameStrategy and are registered at start-up with BACKWARD compatibility, so a service
 * built against an incompatible schema fails fast instead of writing records its consumers cannot read.
 */
export class AvroSchemaRegistry {
  private readonly registry: SchemaRegistry;
  private readonly ids = new Map<string, number>();
  /** Writer schemas being fetched or fetched, by id (see `decode`). */
  private readonly writers = new Map<number, Promise<unknown>>();
  /** Avro writer types already fetched, by id: decoding with one needs no await (see `decodeCached`). */
  private readonly writerTypes = new Map<number, Type>();
  /** This build's schema per catalog topic, and how to read each writer schema as it (see `readerFor`). */
  private readonly readerTypes = new Map<string, Type>();
  private readonly readers = new Map<string, Map<number, ((bytes: Buffer) => unknown) | undefined>>();
  private readonly registryUrl: string;

  constructor(readonly url: string) {
    this.registryUrl = url.replace(/\/$/, '');
    this.registry = new SchemaRegistry({ host: url, retry: { retries: 3 } });
  }

  /** Registers (idempotently) the catalog schemas of the given topics and remembers their ids. */
  async registerTopics(topics: readonly TopicName[]): Promise<void> {
    for (const topic of new Set(topics)) {
      if (this.ids.has(topic)) continue;
      const spec = Catalog[topic];
      this.ids.set(topic, await this.registerSchema(spec.subject, spec.avroSchema));
    }
  }

  /**
   * Schema id for a consumer group's dead-letter topic (`dlq.<group>-value`, the DeadLetter record), registered on
   * first use so any group, including ad-hoc ones, gets a typed DLQ.
   */
  async deadLetterSchemaId(dlqTopic: string): Promise<number> {
    const cached = this.ids.get(dlqTopic);
    if (cached !== undefined) return cached;
    const id = await this.registerSchema(`${dlqTopic}-value`, Catalog['dlq.leads'].avroSchema);
    this.ids.set(dlqTopic, id);
    return id;
  }

  /** Registers a raw schema under a subject (BACKWARD); used by tests and tooling. */
  async registerSchema(subject: string, schema: Record<string, unknown>): Promise<number> {
    const body = { type: SchemaType.AVRO as const, schema: JSON.stringify(schema) };
    for (let attempt = 0; ; attempt++) {
      try {
        return (await this.registry.register(body, { subject })).id;
      } catch (error) {
        // Two processes registering a new subject at once both see no subject config and both set it; Apicurio
        // refuses the second with 409 "A rule named 'COMPATIBILITY' already exists". The config is set then, so a
        // second registration finds it and only registers the (identical) schema.
        // The client also registers the schema first and sets the config after: a replica that looks in between
        // sees the subject at the registry default, NONE. The first one sets BACKWARD a moment later.
        const configNotYetSet = isConfigNotYetSet(error);
        if (!(configNotYetSet || isRuleAlreadySet(error)) || attempt >= CONFIG_WAIT_ATTEMPTS) throw error;
        if (configNotYetSet)
          await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** Math.min(attempt, 4)));
      }
    }
  }

  /** The schema id a topic's records are written with. */
  schemaId(topic: TopicName): number {
    const id = this.ids.get(topic);
    if (id === undefined)
      throw new Error(`schema for ${topic} is not registered; list it in the service's producer topics`);
    return id;
  }

  /** Encodes in the Confluent wire format (magic byte, schema id, Avro binary). */
  async encode<T extends TopicName>(topic: T, event: TopicEvents[T]): Promise<Buffer> {
    return this.registry.encode(this.schemaId(topic), event);
  }

  /**
   * A synchronous encoder for a topic's registered schema (one cached avsc Type; no registry call per record), for
   * hot paths that encode many records and want per-record failures before producing. Throws on invalid values
   * with the path of each bad field.
   */
  encoderFor<T extends TopicName>(topic: T): (event: TopicEvents[T]) => Buffer {
    const id = this.schemaId(topic);
    const type = Type.forSchema(Catalog[topic].avroSchema as never);
    // Records are written after the wire prefix into one scratch buffer and copied out once: `toBuffer` plus a
    // concat allocated two buffers a record, one of them zero-filled outside Node's pool.
    let scratch = Buffer.alloc(64 * 1024);
    scratch.writeInt32BE(id, 1);
    return (event) => {
      const paths: string[] = [];
      if (!type.isValid(event, { errorHook: (path) => paths.push(path.join('.') || '(record)') })) {
        throw new Error(`not a valid ${Catalog[topic].recordName}: bad field(s) ${paths.join(', ')}`);
      }
      let end = type.encode(event, scratch, 5);
      if (end < 0) {
        // `encode` answers how many bytes were missing.
        scratch = Buffer.alloc(2 * (scratch.length - end));
        scratch.writeInt32BE(id, 1);
        end = type.encode(event, scratch, 5);
      }
      return Buffer.from(scratch.subarray(0, end));
    };
  }

  /** Encodes with an explicit schema id (tests, replay of foreign producers). */
  async encodeWithId(id: number, value: unknown): Promise<Buffer> {
    return this.registry.encode(id, value);
  }

  /**
   * Decodes any record written with a registered schema; the writer schema is fetched by id and cached. With a
   * catalog `topic`, the record is read as this build's schema for it (Avro schema resolution): a record written
   * before a field was added gets the field's default, as BACKWARD compatibility promises readers.
   */
  async decode(buffer: Buffer | null, topic?: string): Promise<unknown> {
    const cached = this.decodeCached(buffer, topic);
    if (cached) return cached.value;
    const framed = buffer as Buffer;
    try {
      await this.writerSchema(framed.readInt32BE(1));
      const again = topic === undefined ? undefined : this.decodeCached(framed, topic);
      if (again) return again.value;
      return await this.registry.decode(framed);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // A registry outage is transient; anything else about these bytes will never decode.
      if (/ECONNREFUSED|ETIMEDOUT|socket hang up|503|502/i.test(message)) throw error;
      throw new UndecodableMessageError(`Avro decode failed: ${message}`);
    }
  }

  /**
   * Decodes at once when the record's writer schema is already cached (every record after its schema's first), so
   * a hot consumer loop pays no promise per record; undefined when the schema must be fetched first (use `decode`).
   * Throws UndecodableMessageError for bytes that will never decode, as `decode` rejects.
   */
  decodeCached(buffer: Buffer | null, topic?: string): { value: unknown } | undefined {
    if (!buffer || buffer.length < 5 || buffer[0] !== 0) {
      throw new UndecodableMessageError('not Confluent wire format (missing magic byte 0 + schema id)');
    }
    const id = buffer.readInt32BE(1);
    const type = this.writerTypes.get(id);
    if (!type) return undefined;
    try {
      const read = topic === undefined ? undefined : this.readerFor(topic, id, type);
      // Without a catalog topic: what the library does with a cached writer schema and no reader schema.
      return { value: read ? read(buffer.subarray(5)) : type.fromBuffer(buffer.subarray(5)) };
    } catch (error) {
      throw new UndecodableMessageError(
        `Avro decode failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  /**
   * How to read records of writer schema `id` as this build's schema for `topic`: undefined for topics outside the
   * catalog (read as written); the writer's own type when the two are the same schema; else an Avro resolver, built
   * once per (topic, writer). A writer this build cannot read (incompatible) throws, and the record dead-letters.
   */
  private readerFor(topic: string, id: number, writer: Type): ((bytes: Buffer) => unknown) | undefined {
    let byWriter = this.readers.get(topic);
    if (!byWriter) {
      byWriter = new Map();
      this.readers.set(topic, byWriter);
    }
    if (byWriter.has(id)) return byWriter.get(id);
    if (!(topic in Catalog)) {
      byWriter.set(id, undefined);
      return undefined;
    }
    let reader = this.readerTypes.get(topic);
    if (!reader) {
      reader = Type.forSchema(Catalog[topic as TopicName].avroSchema as never);
      this.readerTypes.set(topic, reader);
    }
    const target = reader;
    const read = target.equals(writer)
      ? (bytes: Buffer) => writer.fromBuffer(bytes)
      : (
          (resolver) => (bytes: Buffer) =>
            target.fromBuffer(bytes, resolver)
        )(target.createResolver(writer));
    byWriter.set(id, read);
    return read;
  }

  /**
   * Fetches a writer schema once per id. The library fetches it once too, but every decode that missed its cache
   * while that fetch was in flight builds its own Avro type afterwards: hundreds at once when a backlog's first
   * fetch arrives (a third of a second of CPU and the garbage after it, on every consumer's start).
   */
  private async writerSchema(id: number): Promise<void> {
    let fetched = this.writers.get(id);
    if (!fetched) {
      fetched = this.registry.getSchema(id);
      this.writers.set(id, fetched);
      // Only Avro writers take the synchronous path; other schema types keep going through the library.
      fetched.then(
        (schema) => schema instanceof Type && this.writerTypes.set(id, schema),
        () => undefined,
      );
      // A failed fetch (registry down) is tried again by the next decode.
      fetched.catch(() => this.writers.delete(id));
    }
    await fetched;
  }

  /** Readiness: the registry answers its subjects listing. */
  readiness(): ReadinessCheck {
    return {
      name: 'registry',
      check: async () => {
        const res = await fetch(`${this.registryUrl}/subjects`, {
          signal: AbortSignal.timeout(2_000),
        });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
      },
    };
  }
}

/** About 4 s of waiting for another process to set a new subject's config, before a NONE is taken as meant. */
const CONFIG_WAIT_ATTEMPTS = 8;

function isConfigNotYetSet(error: unknown): boolean {
  return error instanceof ConfluentSchemaRegistryCompatibilityError && /!= NONE\)$/.test(error.message);
}

function isRuleAlreadySet(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error as { status?: unknown }).status === 409 &&
    /rule named .* already exists/i.test(error.message)
  );
}
