import { createReporter, lineReporter } from './progress';

function capture() {
  const chunks: string[] = [];
  return { chunks, stream: { write: (chunk: string) => chunks.push(chunk), isTTY: false } };
}

describe('createReporter without a TTY', () => {
  it('prints plain start/result lines, no carriage returns or escape codes', async () => {
    const { chunks, stream } = capture();
    const out: string[] = [];
    const reporter = createReporter({ stream, out: (line) => out.push(line) });
    const value = await reporter.task('start Kafka', async (task) => {
      task.note('waiting');
      task.note('waiting'); // repeated notes (health polls) print once
      task.note('formatting');
      return 42;
    });
    reporter.out('result');
    expect(value).toBe(42);
    const text = chunks.join('');
    expect(text).not.toContain('\r');
    expect(text).not.toContain('\u001b');
    expect(text.split('\n').filter(Boolean)).toEqual([
      '  → start Kafka',
      '    start Kafka: waiting',
      '    start Kafka: formatting',
      expect.stringMatching(/^ {2}✔ start Kafka \(\d+\.\d s\)$/),
    ]);
    expect(out).toEqual(['result']);
  });

  it('marks a failed step and rethrows', async () => {
    const { chunks, stream } = capture();
    const reporter = createReporter({ stream, out: () => undefined });
    await expect(reporter.task('download', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(chunks.join('')).toMatch(/✖ download \(\d+\.\d s\)/);
  });
});

describe('lineReporter', () => {
  it('sends progress and results through one callback, line by line', async () => {
    const lines: string[] = [];
    const reporter = lineReporter((line) => lines.push(line));
    reporter.info('hello');
    await reporter.task('step', async () => undefined);
    reporter.out('done');
    expect(lines[0]).toBe('hello');
    expect(lines[1]).toBe('  → step');
    expect(lines[2]).toMatch(/✔ step/);
    expect(lines[3]).toBe('done');
  });
});
