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
export class KafkaEventContext extends BaseRpcContext<[ConsumedMessageInfo]> {
  get message(): ConsumedMessageInfo {
    return this.args[0];
  }
}
