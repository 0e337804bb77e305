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

/** Where a consumed record sits in its topic: enough for a read model to apply each record once. */
export interface RecordPosition {
  topic: string;
  partition: number;
  offset: string;
}

/**
 * Nest RPC context for Kafka events delivered by KafkaEventTransport. A batch call's records are described only
 * when a handler asks (`lazy`): building a key string and a header map per record cost a batch more than its decoding.
 */
export class KafkaEventContext extends BaseRpcContext<ConsumedMessageInfo[]> {
  private described: ConsumedMessageInfo[] | undefined;
  private readonly describe: (() => ConsumedMessageInfo[]) | undefined;
  private located: readonly RecordPosition[] | undefined;
  private readonly locate: (() => RecordPosition[]) | undefined;

  constructor(
    infos: ConsumedMessageInfo[] | { lazy: () => ConsumedMessageInfo[]; positions?: () => RecordPosition[] },
  ) {
    super(Array.isArray(infos) ? infos : []);
    this.describe = Array.isArray(infos) ? undefined : infos.lazy;
    this.locate = Array.isArray(infos) ? undefined : infos.positions;
  }

  /**
   * Each record's topic, partition and offset, in the order of the call's events, without describing the records
   * (no key strings, no header maps): what a read model applying tens of thousands of records a second needs.
   */
  get positions(): readonly RecordPosition[] {
    this.located ??= this.locate
      ? this.locate()
      : this.getArgs().map(({ topic, partition, offset }) => ({ topic, partition, offset }));
    return this.located;
  }

  override getArgs(): ConsumedMessageInfo[] {
    this.described ??= this.describe ? this.describe() : this.args;
    return this.described;
  }

  override getArgByIndex(index: number): ConsumedMessageInfo {
    return this.getArgs()[index] as ConsumedMessageInfo;
  }

  /** The record (for a batch handler: the first one). */
  get message(): ConsumedMessageInfo {
    const first = this.getArgs()[0];
    if (!first) throw new Error('no record in this context');
    return first;
  }

  /** Every record of the call, in offset order (one for an `@EventPattern` handler). */
  get messages(): readonly ConsumedMessageInfo[] {
    return this.getArgs();
  }
}
