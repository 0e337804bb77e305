import { BaseRpcContext } from '@nestjs/microservices';

/** Where a consumed event came from; available in handlers through `@Ctx()`. */
export interface ConsumedMessageInfo {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  headers: Record<string, Buffer>;
  consumerGroup: string;
  attempt: number;
}

/** Nest RPC context for Kafka events delivered by KafkaEventTransport. */
export class KafkaEventContext extends BaseRpcContext<ConsumedMessageInfo[]> {
  /** The record (for a batch handler: the first one). */
  get message(): ConsumedMessageInfo {
    const first = this.args[0];
    if (!first) throw new Error('no record in this context');
    return first;
  }

  /** Every record of the call, in offset order (one for an `@EventPattern` handler). */
  get messages(): readonly ConsumedMessageInfo[] {
    return this.args;
  }
}
