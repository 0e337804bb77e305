import { Injectable } from '@nestjs/common';
import type { DeadLetter } from '@tributary/contracts';
import { AvroSchemaRegistry, UndecodableMessageError } from '@tributary/messaging';

/**
 * Whose record a dead letter holds: a dead letter names no workspace, but its original bytes are the Confluent-framed
 * Avro record, whose metadata does. Bytes that are not such a record (the poison that was dead-lettered for it)
 * belong to no workspace; a registry that cannot be reached is an error, so the batch is retried rather than miscounted.
 */
@Injectable()
export class DeadLetterOrigins {
  constructor(private readonly registry: AvroSchemaRegistry) {}

  /** The workspace of the letter's original record; null when the record cannot be read or names none. */
  async workspaceOf(letter: Pick<DeadLetter, 'originalValue' | 'sourceTopic'>): Promise<string | null> {
    if (!letter.originalValue) return null;
    let record: unknown;
    try {
      record = await this.registry.decode(letter.originalValue, letter.sourceTopic);
    } catch (error) {
      if (error instanceof UndecodableMessageError) return null;
      throw error;
    }
    const workspaceId = (record as { metadata?: { workspaceId?: unknown } } | null)?.metadata?.workspaceId;
    return typeof workspaceId === 'string' && workspaceId.length > 0 ? workspaceId : null;
  }
}
