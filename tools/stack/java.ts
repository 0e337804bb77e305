// Finds a Java runtime of a minimum major version: explicit override, JAVA_HOME, PATH, then installed JDKs.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StackError } from './errors';
import { which } from './system';

export interface JavaInfo {
  path: string;
  major: number;
  /** As printed by `java -version`, e.g. "17.0.15". */
  version: string;
}

/** Parses `java -version` output (stderr): `openjdk version "17.0.15" ...`, `java version "1.8.0_392"`. */
export function parseJavaVersion(output: string): { major: number; version: string } | undefined {
  const match = /version "([^"]+)"/.exec(output);
  const version = match?.[1];
  if (!version) return undefined;
  // Java 8 and older report 1.<major>; 9+ report <major>[.minor...][-ea].
  const parts = /^(\d+)(?:\.(\d+))?/.exec(version);
  if (!parts?.[1]) return undefined;
  const first = Number(parts[1]);
  const major = first === 1 && parts[2] ? Number(parts[2]) : first;
  return { major, version };
}

/** Where JDKs usually live on Linux and macOS. */
const JVM_DIRS = ['/usr/lib/jvm', '/usr/java', '/opt/java', '/Library/Java/JavaVirtualMachines'];

export function javaCandidates(
  env: NodeJS.ProcessEnv = process.env,
  jvmDirs: readonly string[] = JVM_DIRS,
): string[] {
  const found: string[] = [];
  const javaHome = env['JAVA_HOME']?.trim();
  if (javaHome) found.push(path.join(javaHome, 'bin', 'java'));
  const onPath = which('java', env);
  if (onPath) found.push(onPath);
  for (const dir of jvmDirs) {
    let entries: string[];
    try {
      entries = fs.readdirSync(dir).sort();
    } catch {
      continue;
    }
    for (const entry of entries) {
      found.push(
        path.join(dir, entry, 'bin', 'java'),
        path.join(dir, entry, 'Contents', 'Home', 'bin', 'java'),
      );
    }
  }
  // The same JDK is often reachable through several symlinks (/usr/bin/java, java-1.17.0-openjdk-amd64, ...).
  const seen = new Set<string>();
  const unique: string[] = [];
  for (const candidate of found) {
    let real: string;
    try {
      real = fs.realpathSync(candidate);
      fs.accessSync(real, fs.constants.X_OK);
    } catch {
      continue;
    }
    if (!seen.has(real)) {
      seen.add(real);
      unique.push(candidate);
    }
  }
  return unique;
}

const probeCache = new Map<string, Promise<JavaInfo | undefined>>();

export function probeJava(javaPath: string): Promise<JavaInfo | undefined> {
  let probe = probeCache.get(javaPath);
  if (!probe) {
    probe = new Promise((resolve) => {
      execFile(javaPath, ['-version'], { timeout: 15_000 }, (error, stdout, stderr) => {
        const parsed = error ? undefined : parseJavaVersion(`${stderr}\n${stdout}`);
        resolve(parsed ? { path: javaPath, ...parsed } : undefined);
      });
    });
    probeCache.set(javaPath, probe);
  }
  return probe;
}

export interface FindJavaOptions {
  minMajor: number;
  /** An explicit java from the environment: used alone, and an error if unusable. */
  override?: string;
  overrideVar: string;
  /** Who needs it, e.g. "Apicurio Registry 3.3.3". */
  purpose: string;
  /** How to install one, e.g. "apt-get install -y openjdk-17-jre-headless". */
  installHint: string;
  env?: NodeJS.ProcessEnv;
}

export async function findJava(options: FindJavaOptions): Promise<JavaInfo> {
  const { minMajor, override, overrideVar, purpose } = options;
  if (override) {
    const info = await probeJava(override);
    if (!info)
      throw new StackError(`${overrideVar}=${override} is not a working java binary (java -version failed)`);
    if (info.major < minMajor) {
      throw new StackError(
        `${overrideVar}=${override} is Java ${info.version}, but ${purpose} needs Java ${minMajor}+: ` +
          `point ${overrideVar} at a Java ${minMajor}+ bin/java`,
      );
    }
    return info;
  }
  const candidates = javaCandidates(options.env);
  const seen: JavaInfo[] = [];
  for (const candidate of candidates) {
    const info = await probeJava(candidate);
    if (!info) continue;
    if (info.major >= minMajor) return info;
    seen.push(info);
  }
  const found = seen.length ? ` (found only ${seen.map((j) => `${j.path} = ${j.version}`).join(', ')})` : '';
  throw new StackError(
    `java ${minMajor}+ not found${found}; ${purpose} needs it: ${options.installHint}, ` +
      `or set ${overrideVar}=/path/to/jdk-${minMajor}/bin/java`,
  );
}

/** findJava for preflights, which collect every problem instead of stopping at the first. */
export async function findJavaOrProblem(
  options: FindJavaOptions,
): Promise<{ java?: JavaInfo; problem?: string }> {
  try {
    return { java: await findJava(options) };
  } catch (error) {
    return { problem: error instanceof Error ? error.message : String(error) };
  }
}
