// `logs`: the last lines of the component logs, optionally following them like `tail -F`.
import * as fs from 'node:fs';
import { stackPaths, type ComponentName, type StackConfig } from './config';
import { sleep, tailFile } from './system';

export interface LogsOptions {
  lines: number;
  follow: boolean;
  write?: (text: string) => void;
  /** Stop following (tests); by default it follows until the process is interrupted. */
  signal?: AbortSignal;
}

export async function showLogs(config: StackConfig, names: readonly ComponentName[], options: LogsOptions) {
  const write = options.write ?? ((text: string) => void process.stdout.write(text));
  const paths = stackPaths(config);
  const width = Math.max(...names.map((n) => n.length));
  // With several logs, each line says where it comes from.
  const prefix = (name: ComponentName) => (names.length > 1 ? `${name.padEnd(width)} | ` : '');

  const positions = new Map<ComponentName, number>();
  for (const name of names) {
    const file = paths.logFile(name);
    if (!fs.existsSync(file)) {
      if (!options.follow) write(`${prefix(name)}(no log yet: ${file})\n`);
      positions.set(name, 0);
      continue;
    }
    for (const line of tailFile(file, options.lines)) write(`${prefix(name)}${line}\n`);
    positions.set(name, fs.statSync(file).size);
  }
  if (!options.follow) return;

  const partial = new Map<ComponentName, string>();
  while (!options.signal?.aborted) {
    for (const name of names) {
      const file = paths.logFile(name);
      let size: number;
      try {
        size = fs.statSync(file).size;
      } catch {
        continue;
      }
      let position = positions.get(name) ?? 0;
      // Shrunk: rotated or the stack was reset. Start over from the top.
      if (size < position) position = 0;
      if (size === position) continue;
      const fd = fs.openSync(file, 'r');
      try {
        const buffer = Buffer.alloc(size - position);
        fs.readSync(fd, buffer, 0, buffer.length, position);
        positions.set(name, size);
        const text = (partial.get(name) ?? '') + buffer.toString('utf8');
        const lines = text.split('\n');
        partial.set(name, lines.pop() ?? '');
        for (const line of lines) write(`${prefix(name)}${line}\n`);
      } finally {
        fs.closeSync(fd);
      }
    }
    await sleep(250);
  }
}
