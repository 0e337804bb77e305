import { KafkaEventContext, type ConsumedMessageInfo } from './event-context';

const info = (offset: string): ConsumedMessageInfo => ({
  topic: 'orders',
  partition: 0,
  offset,
  key: null,
  headers: {},
  consumerGroup: 'group-a',
  attempt: 1,
});

describe('KafkaEventContext', () => {
  it('describes a batch call’s records only when a handler asks, and once', () => {
    let described = 0;
    const ctx = new KafkaEventContext({
      lazy: () => {
        described++;
        return [info('1'), info('2')];
      },
    });
    expect(described).toBe(0);
    expect(ctx.messages.map((m) => m.offset)).toEqual(['1', '2']);
    expect(ctx.message.offset).toBe('1');
    expect(ctx.getArgByIndex(1)?.offset).toBe('2');
    expect(ctx.getArgs()).toHaveLength(2);
    expect(described).toBe(1);
  });

  it('takes a record’s description as it is', () => {
    const ctx = new KafkaEventContext([info('7')]);
    expect(ctx.message.offset).toBe('7');
    expect(ctx.messages).toHaveLength(1);
  });

  it('locates a batch call’s records without describing them', () => {
    let described = 0;
    const ctx = new KafkaEventContext({
      lazy: () => {
        described++;
        return [info('1'), info('2')];
      },
      positions: () => [
        { topic: 'orders', partition: 0, offset: '1' },
        { topic: 'orders', partition: 3, offset: '9' },
      ],
    });
    expect(ctx.positions).toEqual([
      { topic: 'orders', partition: 0, offset: '1' },
      { topic: 'orders', partition: 3, offset: '9' },
    ]);
    expect(described).toBe(0);
  });

  it('locates a record from its description when no cheaper way was given', () => {
    const ctx = new KafkaEventContext([info('7')]);
    expect(ctx.positions).toEqual([{ topic: 'orders', partition: 0, offset: '7' }]);
  });
});
