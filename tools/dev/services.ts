import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** The five services with their default HTTP ports. */
export const SERVICES = [
  { name: 'ingestion', port: 3000 },
  { name: 'leads', port: 3001 },
  { name: 'orchestration', port: 3002 },
  { name: 'sync', port: 3003 },
  { name: 'reporting', port: 3004 },
] as const;

export type ServiceName = (typeof SERVICES)[number]['name'];

export interface RunningProcess {
  name: ServiceName;
  url: string;
  child: ChildProcess;
  logFile: string;
}

const root = join(__dirname, '..', '..');

/** Starts a service as its own Node process (as in production), logging JSON lines to <logDir>/<name>.log. */
export function spawnService(
  name: ServiceName,
  port: number,
  env: Record<string, string>,
  logDir: string,
  nodeArgs: readonly string[] = [],
): RunningProcess {
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `${name}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(
    process.execPath,
    [...nodeArgs, join(root, 'tools', 'run-ts.js'), join(root, 'apps', name, 'src', 'main.ts')],
    {
      cwd: root,
      env: { ...process.env, ...env, HTTP_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return { name, url: `http://127.0.0.1:${port}`, child, logFile };
}

/** Waits until the service answers ready (broker, registry, store up) or its process exits. */
export async function waitReady(service: RunningProcess, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (service.child.exitCode !== null) {
      throw new Error(`${service.name} exited with code ${service.child.exitCode}; see ${service.logFile}`);
    }
    const ok = await fetch(`${service.url}/health/ready`, { signal: AbortSignal.timeout(1_000) })
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) return;
    await sleep(500);
  }
  throw new Error(`${service.name} not ready after ${timeoutMs / 1000} s; see ${service.logFile}`);
}

/** SIGTERM (graceful: finish in-flight batch, commit, disconnect), then SIGKILL after the grace period. */
export async function stopService(service: RunningProcess, graceMs = 20_000): Promise<void> {
  if (service.child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => service.child.once('exit', () => resolve()));
  service.child.kill('SIGTERM');
  const timer = setTimeout(() => service.child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
