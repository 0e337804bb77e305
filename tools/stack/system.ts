// Process, port and file helpers. Linux-first: process identity and port owners come from /proc.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { StackError } from './errors';
import { lastLines } from './render';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Like `command -v`: the first executable `cmd` on PATH. */
export function which(cmd: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env['PATH'] ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, cmd);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

const hasProc = fs.existsSync('/proc/self/stat');

export function readCmdline(pid: number): string[] | undefined {
  try {
    const raw = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((arg) => arg !== '');
  } catch {
    return undefined;
  }
}

interface ProcStat {
  state: string;
  pgrp: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const raw = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name in parentheses may contain spaces: fields start after the last ')'.
    const fields = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '?', pgrp: Number(fields[2]) };
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie (a zombie still answers kill(pid, 0) until its parent reaps it). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (hasProc) {
    const stat = readStat(pid);
    return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function listPids(): number[] {
  try {
    return fs
      .readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .map(Number);
  } catch {
    return [];
  }
}

/** Live members of a process group (what a group kill has to wait for). */
export function groupMembers(pgid: number): number[] {
  if (!hasProc) return isAlive(pgid) ? [pgid] : [];
  return listPids().filter((pid) => {
    const stat = readStat(pid);
    return stat !== undefined && stat.pgrp === pgid && stat.state !== 'Z' && stat.state !== 'X';
  });
}

export interface TerminateOptions {
  /** First signal; default SIGTERM. */
  signal?: NodeJS.Signals;
  /** Send the first signal to the leader alone, which stops its own children (PostgreSQL's postmaster). */
  leaderOnly?: boolean;
}

/**
 * SIGTERM the process (its whole group when it leads one, which is how the stack starts processes), wait for
 * it to go, then SIGKILL after `graceMs`. Resolves once nothing of the group is left.
 */
export async function terminate(
  pid: number,
  graceMs: number,
  options: TerminateOptions = {},
): Promise<'terminated' | 'killed'> {
  const useGroup = !hasProc || readStat(pid)?.pgrp === pid;
  const send = (signal: NodeJS.Signals, toGroup: boolean) => {
    try {
      process.kill(toGroup ? -pid : pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  };
  const gone = () => (useGroup ? groupMembers(pid).length === 0 : !isAlive(pid));
  const waitGone = async (ms: number) => {
    const deadline = Date.now() + ms;
    while (!gone()) {
      if (Date.now() >= deadline) return false;
      await sleep(100);
    }
    return true;
  };
  send(options.signal ?? 'SIGTERM', useGroup && !options.leaderOnly);
  if (await waitGone(graceMs)) return 'terminated';
  send('SIGKILL', useGroup);
  if (await waitGone(10_000)) return 'killed';
  throw new StackError(`pid ${pid} survived SIGKILL for 10 s; check it with: ps -o pid,stat,args -g ${pid}`);
}

/** Whether we could listen on host:port right now. */
export function isPortFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') resolve(false);
      else reject(new StackError(`cannot bind ${host}:${port}: ${error.message}`));
    });
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Best effort: which process listens on a TCP port (needs /proc and permission to read its fds). */
export function portOwner(port: number): { pid: number; cmdline: string[] } | undefined {
  if (!hasProc) return undefined;
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      // st 0A = LISTEN
      if (!local || cols[3] !== '0A') continue;
      const portHex = local.slice(local.lastIndexOf(':') + 1);
      if (parseInt(portHex, 16) === port && cols[9]) inodes.add(cols[9]);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const pid of listPids()) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (match?.[1] && inodes.has(match[1])) return { pid, cmdline: readCmdline(pid) ?? [] };
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return undefined;
}

export interface RunOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** Output is also written here (overwritten), for the error message to point at. */
  logFile?: string;
  /** Aborting kills the command (another step of `up` failed: no point in finishing a build). */
  signal?: AbortSignal;
  /** Run as this user (root running PostgreSQL's tools, which refuse to run as root). */
  user?: RunAs;
}

/** A uid/gid pair to run a child process as. */
export interface RunAs {
  name: string;
  uid: number;
  gid: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Combined stdout + stderr, capped at the last ~1 MB. */
  output: string;
  /** stdout alone, for commands whose output is data (e.g. JSON). */
  stdout: string;
}

/** Runs a build/download command to completion, capturing its output. Rejects only if it cannot start. */
export function runCommand(
  command: string,
  args: readonly string[],
  options: RunOptions,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const log = options.logFile ? fs.createWriteStream(options.logFile) : undefined;
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.user ? { uid: options.user.uid, gid: options.user.gid } : {}),
    });
    let output = '';
    let stdout = '';
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-1_000_000);
      log?.write(chunk);
    };
    child.stdout.on('data', (chunk: Buffer) => {
      stdout = (stdout + chunk.toString('utf8')).slice(-1_000_000);
      collect(chunk);
    });
    child.stderr.on('data', collect);
    child.once('error', (error) => {
      log?.end();
      reject(new StackError(`cannot run ${command}: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      const done = () => resolve({ code, signal, output, stdout });
      if (log) log.end(done);
      else done();
    });
  });
}

/** Throws a StackError with the command's last output lines unless it exited 0. */
export function assertSuccess(result: RunResult, what: string, logFile?: string): void {
  if (result.code === 0) return;
  const how = result.signal ? `was killed by ${result.signal}` : `exited with ${result.code}`;
  const where = logFile ? `; full output in ${logFile}` : '';
  throw new StackError(`${what} failed: ${how}${where}`, lastLines(result.output, 20));
}

/** The last `n` lines of a file, reading only its end. */
export function tailFile(file: string, n: number): string[] {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return [];
  }
  try {
    const size = fs.fstatSync(fd).size;
    let start = size;
    let text = '';
    // Grow the window from the end until it holds n full lines (or the whole file).
    while (start > 0) {
      const chunk = Math.min(64 * 1024, start);
      start -= chunk;
      const buffer = Buffer.alloc(chunk);
      fs.readSync(fd, buffer, 0, chunk, start);
      text = buffer.toString('utf8') + text;
      if (text.split('\n').length > n + 1) break;
    }
    return lastLines(text, n);
  } finally {
    fs.closeSync(fd);
  }
}

/** Recursive copy that leaves everything owner-writable (the Go module cache is read-only). */
export function copyTreeWritable(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true, mode: 0o755 });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, entry.name);
    const dest = path.join(to, entry.name);
    if (entry.isDirectory()) {
      copyTreeWritable(src, dest);
    } else if (entry.isSymbolicLink()) {
      fs.symlinkSync(fs.readlinkSync(src), dest);
    } else {
      fs.copyFileSync(src, dest);
      fs.chmodSync(dest, fs.statSync(src).mode | 0o200);
    }
  }
}

/** rm -rf that also copes with read-only directories left by an earlier copy of the module cache. */
export function removeTree(dir: string): void {
  if (!fs.existsSync(dir)) return;
  const makeWritable = (p: string) => {
    try {
      const stat = fs.lstatSync(p);
      if (!stat.isDirectory()) return;
      fs.chmodSync(p, stat.mode | 0o700);
      for (const entry of fs.readdirSync(p)) makeWritable(path.join(p, entry));
    } catch {
      // best effort; rmSync reports what really fails
    }
  };
  makeWritable(dir);
  fs.rmSync(dir, { recursive: true, force: true });
}
