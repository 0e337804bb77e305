import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Type, type Schema } from 'avsc';
import { Catalog, type EventMetadata, type TopicName } from '@tributary/contracts';
import { AvroSchemaRegistry, UndecodableMessageError } from './schema-registry';
import { causedMetadata, derivedEventId, originMetadata } from './event-ids';

const metadata: EventMetadata = originMetadata({
  workspaceId: 'ws_1',
  source: 'test',
  occurredAt: 1_700_000_000_000,
});

const samples: Partial<Record<TopicName, unknown>> = {
  'tracking.events': {
    metadata,
    callType: 'track',
    messageId: 'm-1',
    userId: 'u-1',
    anonymousId: null,
    event: 'Pricing Page Viewed',
    propertiesJson: '{"plan":"pro"}',
    contextJson: '{}',
    timestamp: 1_700_000_000_000,
    receivedAt: 1_700_000_000_100,
    previousId: null,
    groupId: null,
    name: null,
    category: null,
    traitsJson: null,
    integrationsJson: '{"All":true}',
    sentAt: 1_700_000_000_050,
    originalTimestamp: 1_699_999_999_000,
  },
  'leads.scored': {
    metadata,
    contactId: 'ws_1:u-1',
    score: 10,
    previousScore: 0,
    breakdown: [{ rule: 'r', points: 10, kind: 'engagement', reason: '1 event' }],
    fitScore: 0,
    engagementScore: 10,
    modelVersion: 2,
    trigger: 'event',
    enrichmentState: 'enriched',
    stage: 'lead',
    attributes: { email: 'ada@example.com', emailMarketingConsent: 'true' },
    events: [
      {
        eventId: 'e-1',
        callType: 'track',
        name: 'Cart Abandoned',
        propertiesJson: '{"cart":{"id":"c-1"}}',
        occurredAt: 1_700_000_000_000,
      },
    ],
  },
  'journey.steps': {
    metadata,
    enrollmentId: 'e',
    journeyId: 'welcome',
    contactId: 'c',
    step: 'welcome-email',
    journeyVersion: 1,
    stepType: 'email',
    status: 'advanced',
    reason: null,
    enrollmentKey: null,
  },
  'sync.outbound': { metadata, recordId: 'r', destination: 'crm', operation: 'upsert', fieldsJson: '{}' },
  'reports.event-counts': {
    metadata,
    eventType: 'track',
    count: 3,
    asOf: 1_700_000_000_000,
    eventIds: ['e-1', 'e-2'],
  },
};

describe('Avro SerDe of the catalog schemas', () => {
  it.each(Object.entries(samples))('%s round-trips through its schema', (topic, sample) => {
    const type = Type.forSchema(Catalog[topic as TopicName].avroSchema as unknown as Schema);
    const decoded = type.fromBuffer(type.toBuffer(sample));
    expect(decoded).toEqual(sample);
  });

  it('refuses to encode an event missing a required field', () => {
    const type = Type.forSchema(Catalog['leads.scored'].avroSchema as unknown as Schema);
    expect(() => type.toBuffer({ metadata, contactId: 'c' })).toThrow();
  });

  it('rejects bytes that are not in the Confluent wire format without calling the registry', async () => {
    const registry = new AvroSchemaRegistry('http://127.0.0.1:1/unused');
    await expect(registry.decode(Buffer.from('{"json":true}'))).rejects.toBeInstanceOf(
      UndecodableMessageError,
    );
    await expect(registry.decode(null)).rejects.toBeInstanceOf(UndecodableMessageError);
    await expect(registry.decode(Buffer.from([0, 0]))).rejects.toBeInstanceOf(UndecodableMessageError);
  });

  it('decodes synchronously once the writer schema is cached, and only then', async () => {
    const type = Type.forSchema(Catalog['leads.scored'].avroSchema as unknown as Schema);
    const sample = samples['leads.scored'];
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), type.toBuffer(sample)]);
    // The registry as the library sees it: schema 7 is this type (no network).
    const getSchema = jest.spyOn(SchemaRegistry.prototype, 'getSchema').mockResolvedValue(type);
    const libDecode = jest
      .spyOn(SchemaRegistry.prototype, 'decode')
      .mockImplementation((buffer: Buffer) => Promise.resolve(type.fromBuffer(buffer.subarray(5))));
    try {
      const registry = new AvroSchemaRegistry('http://127.0.0.1:1/unused');
      expect(registry.decodeCached(framed)).toBeUndefined();
      expect(await registry.decode(framed)).toEqual(sample);
      expect(registry.decodeCached(framed)).toEqual({ value: sample });
      expect(await registry.decode(framed)).toEqual(sample);
      expect(getSchema).toHaveBeenCalledTimes(1);
      expect(libDecode).toHaveBeenCalledTimes(1);
      const truncated = framed.subarray(0, framed.length - 3);
      expect(() => registry.decodeCached(truncated)).toThrow(UndecodableMessageError);
      await expect(registry.decode(truncated)).rejects.toBeInstanceOf(UndecodableMessageError);
    } finally {
      getSchema.mockRestore();
      libDecode.mockRestore();
    }
  });

  it('reads a record written before fields were added as this build’s schema, with their defaults', async () => {
    const current = Catalog['leads.scored'].avroSchema as unknown as { fields: { name: string }[] };
    const added = new Set(['stage', 'attributes', 'events']);
    const older = Type.forSchema({
      ...current,
      fields: current.fields.filter((f) => !added.has(f.name)),
    } as unknown as Schema);
    const {
      stage: _stage,
      attributes: _attributes,
      events: _events,
      ...written
    } = samples['leads.scored'] as Record<string, unknown>;
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, 9]), older.toBuffer(written)]);
    const getSchema = jest.spyOn(SchemaRegistry.prototype, 'getSchema').mockResolvedValue(older);
    try {
      const registry = new AvroSchemaRegistry('http://127.0.0.1:1/unused');
      const defaults = { stage: null, attributes: {}, events: [] };
      expect(await registry.decode(framed, 'leads.scored')).toEqual({ ...written, ...defaults });
      expect(registry.decodeCached(framed, 'leads.scored')).toEqual({ value: { ...written, ...defaults } });
      // Without a topic it is read as written.
      expect(registry.decodeCached(framed)).toEqual({ value: written });
    } finally {
      getSchema.mockRestore();
    }
  });

  it('refuses bytes outside the wire format synchronously in decodeCached too', () => {
    const registry = new AvroSchemaRegistry('http://127.0.0.1:1/unused');
    expect(() => registry.decodeCached(null)).toThrow(UndecodableMessageError);
    expect(() => registry.decodeCached(Buffer.from('{"json":true}'))).toThrow(UndecodableMessageError);
  });
});

describe('encoderFor', () => {
  it('writes each record in the wire format into a buffer of its own, however large the record', async () => {
    const register = jest.spyOn(SchemaRegistry.prototype, 'register').mockResolvedValue({ id: 42 });
    try {
      const registry = new AvroSchemaRegistry('http://registry.invalid');
      await registry.registerTopics(['tracking.events']);
      const encode = registry.encoderFor('tracking.events');
      const type = Type.forSchema(Catalog['tracking.events'].avroSchema as Schema);
      const small = samples['tracking.events'] as Record<string, unknown>;
      // Past the 64 KB scratch buffer: it grows and the record comes out whole.
      const large = {
        ...small,
        messageId: 'm-2',
        propertiesJson: JSON.stringify({ note: 'x'.repeat(150_000) }),
      };
      const first = encode(small as never);
      const second = encode(large as never);
      const third = encode({ ...small, messageId: 'm-3' } as never);
      for (const [bytes, event] of [
        [first, small],
        [second, large],
        [third, { ...small, messageId: 'm-3' }],
      ] as const) {
        expect(bytes[0]).toBe(0);
        expect(bytes.readInt32BE(1)).toBe(42);
        expect(type.fromBuffer(bytes.subarray(5))).toEqual(event);
      }
    } finally {
      register.mockRestore();
    }
  });
});

describe('event ids', () => {
  it('derives the same id for the same cause and purpose, and different ids otherwise', () => {
    expect(derivedEventId('e-1', 'scoring/lead-scored')).toBe(derivedEventId('e-1', 'scoring/lead-scored'));
    expect(derivedEventId('e-1', 'scoring/lead-scored')).not.toBe(
      derivedEventId('e-2', 'scoring/lead-scored'),
    );
    expect(derivedEventId('e-1', 'scoring/lead-scored')).not.toBe(derivedEventId('e-1', 'sync/outbound'));
  });

  it('carries workspace and correlation to caused events and records the cause', () => {
    const caused = causedMetadata(metadata, 'scoring', 'lead-scored', 5);
    expect(caused).toMatchObject({
      workspaceId: 'ws_1',
      correlationId: metadata.correlationId,
      causationId: metadata.eventId,
      source: 'scoring',
      occurredAt: 5,
    });
  });
});
