import type { KafkaMessage } from 'kafkajs';
import { deadLetterTopic, deadLetterTopicSpec, toDeadLetter } from './dead-letter';

describe('dead letters', () => {
  const message: KafkaMessage = {
    key: Buffer.from('contact-42'),
    value: Buffer.from([0, 0, 0, 0, 7, 0xde, 0xad]),
    headers: {
      traceparent: Buffer.from('00-abc-def-01'),
      multi: [Buffer.from('first'), Buffer.from('second')],
    },
    offset: '17',
    timestamp: '1700000000000',
    attributes: 0,
  };

  it('keeps the original key, value and header bytes untouched, with where and why it failed', () => {
    const letter = toDeadLetter({
      message,
      topic: 'tracking.events',
      partition: 2,
      consumerGroup: 'leads',
      errorType: 'decode',
      error: new Error('bad magic byte'),
      attempts: 1,
      now: 1234,
    });
    expect(letter.originalKey?.equals(Buffer.from('contact-42'))).toBe(true);
    expect(letter.originalValue?.equals(Buffer.from([0, 0, 0, 0, 7, 0xde, 0xad]))).toBe(true);
    expect(letter.originalHeaders['traceparent']?.toString()).toBe('00-abc-def-01');
    expect(letter.originalHeaders['multi']?.toString()).toBe('first');
    expect(letter).toMatchObject({
      sourceTopic: 'tracking.events',
      sourcePartition: 2,
      sourceOffset: '17',
      consumerGroup: 'leads',
      errorType: 'decode',
      errorMessage: 'bad magic byte',
      attempts: 1,
      failedAt: 1234,
    });
  });

  it('names one dead-letter topic per consumer group', () => {
    expect(deadLetterTopic('leads')).toBe('dlq.leads');
    expect(deadLetterTopicSpec('leads').name).toBe('dlq.leads');
    expect(deadLetterTopicSpec('adhoc-group')).toMatchObject({
      name: 'dlq.adhoc-group',
      subject: 'dlq.adhoc-group-value',
    });
  });
});
