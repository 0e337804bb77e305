/**
 * Formatting for what the service-list tools write. Prettier's API cannot load inside Jest (it imports its ESM
 * internals dynamically), so the sync writes JSON in Prettier's own layout itself (services.spec.ts proves the two
 * agree) and the generator runs the Prettier CLI on the files it creates.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './service-list';

const PRETTIERRC = join(REPO_ROOT, '.prettierrc.json');
/** The repo's line width, from its Prettier settings. */
export const PRINT_WIDTH =
  (JSON.parse(readFileSync(PRETTIERRC, 'utf8')) as { printWidth?: number }).printWidth ?? 80;

const isPrimitive = (value: unknown): boolean => value === null || typeof value !== 'object';

/**
 * JSON as Prettier prints it when every object is expanded (as in the files the sync rewrites): objects one member a
 * line, arrays of primitives on one line when that line fits, otherwise one element a line.
 * `column` is where the value starts on its line; `tail` the characters after it there (a comma).
 */
export function formatJson(value: unknown, indent = 0, column = indent, tail = 0): string {
  const pad = (n: number) => ' '.repeat(n);
  if (isPrimitive(value)) return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const inline = `[${value.map((v) => JSON.stringify(v)).join(', ')}]`;
    if (value.every(isPrimitive) && column + inline.length + tail <= PRINT_WIDTH) return inline;
    const items = value.map(
      (v, i) => `${pad(indent + 2)}${formatJson(v, indent + 2, indent + 2, i < value.length - 1 ? 1 : 0)}`,
    );
    return `[\n${items.join(',\n')}\n${pad(indent)}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return '{}';
  const members = entries.map(([key, v], i) => {
    const head = `${pad(indent + 2)}${JSON.stringify(key)}: `;
    return `${head}${formatJson(v, indent + 2, head.length, i < entries.length - 1 ? 1 : 0)}`;
  });
  return `{\n${members.join(',\n')}\n${pad(indent)}}`;
}

function prettier(mode: '--write' | '--list-different', paths: readonly string[]): string {
  const cli = join(REPO_ROOT, 'node_modules', 'prettier', 'bin', 'prettier.cjs');
  // By default Prettier skips what .gitignore lists (tmp/, where tests generate); these files are meant to be formatted.
  const args = [cli, '--config', PRETTIERRC, '--ignore-path', '/dev/null', mode, ...paths];
  try {
    return execFileSync(process.execPath, args, {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    // --list-different exits 1 when it lists something; that list is the answer.
    const { status, stdout } = error as { status?: number; stdout?: string };
    if (mode === '--list-different' && status === 1 && stdout) return stdout;
    throw error;
  }
}

/** Runs the Prettier CLI with the repo's settings on files anywhere (even in git-ignored or temporary places). */
export function prettierWrite(paths: readonly string[]): void {
  if (paths.length > 0) prettier('--write', paths);
}

/** The files among `paths` that Prettier would change. */
export function prettierUnformatted(paths: readonly string[]): string[] {
  return paths.length === 0 ? [] : prettier('--list-different', paths).split('\n').filter(Boolean);
}
