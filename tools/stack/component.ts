// What the orchestrator (stack.ts) needs to know about each component.
import type { ComponentName, StackConfig } from './config';
import type { JavaInfo } from './java';
import type { Task } from './progress';
import type { RunAs } from './system';

export interface LaunchSpec {
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Run as another user (PostgreSQL refuses to run as root). */
  user?: RunAs;
}

export interface PortSpec {
  port: number;
  /** The variable that moves it, for the "port taken" error. */
  envVar: string;
  purpose: string;
}

/** A command a download/build step needs but PATH lacks. */
export interface MissingTool {
  tool: string;
  neededFor: string;
  fix: string;
}

/** Result of checking prerequisites: everything missing is reported at once, before anything starts. */
export interface Preflight {
  problems: string[];
  missing: MissingTool[];
  java?: JavaInfo;
}

/** One line per problem; a tool that several components miss (mvn) gets one line naming all of them. */
export function describeProblems(preflights: readonly Preflight[]): string[] {
  const byTool = new Map<string, { neededFor: string[]; fix: string }>();
  for (const missing of preflights.flatMap((p) => p.missing)) {
    const entry = byTool.get(missing.tool) ?? { neededFor: [], fix: missing.fix };
    entry.neededFor.push(missing.neededFor);
    byTool.set(missing.tool, entry);
  }
  return [
    ...preflights.flatMap((p) => p.problems),
    ...[...byTool].map(
      ([tool, { neededFor, fix }]) => `${tool} not found (needed once, ${neededFor.join(' and ')}): ${fix}`,
    ),
  ];
}

export interface ComponentDef {
  name: ComponentName;
  title: string;
  /** What `up` starts with this configuration (PostgreSQL's is the installed major, FerretDB's names its backend). */
  version(config: StackConfig): string;
  /** Default time from spawn to healthy. */
  startTimeoutMs: number;
  /** Grace period between SIGTERM and SIGKILL on `down`. */
  stopGraceMs: number;
  /** Sent to the process alone instead of SIGTERM to its group, for servers that stop their own children. */
  stopSignal?: NodeJS.Signals;
  ports(config: StackConfig): PortSpec[];
  address(config: StackConfig): string;
  /** Whether a command line is this component of this stack (pid files can outlive their process). */
  isOurs(cmdline: readonly string[], config: StackConfig): boolean;
  /** Resolves when the component serves requests; rejects with the reason otherwise. */
  health(config: StackConfig): Promise<void>;
  preflight(config: StackConfig): Promise<Preflight>;
  /** Whether the cache already holds a complete download/build. */
  isProvisioned(config: StackConfig): boolean;
  /** Downloads/builds into the cache unless already complete. */
  provision(config: StackConfig, task: Task, signal?: AbortSignal): Promise<void>;
  /** Writes configs and initialises storage; returns how to start the process. */
  prepare(config: StackConfig, preflight: Preflight, task: Task): Promise<LaunchSpec>;
}

/** The java a component's preflight found (preflight reports a problem instead when there is none). */
export function requireJava(preflight: Preflight, component: string): JavaInfo {
  if (!preflight.java) throw new Error(`${component}: prepare called without a java from preflight`);
  return preflight.java;
}
