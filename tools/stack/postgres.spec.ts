import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from './config';
import {
  choosePostgresMajor,
  findPostgres,
  parsePasswd,
  postgresUser,
  socketPathProblem,
  unreachableDirs,
} from './postgres';

describe('choosePostgresMajor', () => {
  it('takes the newest installed major for a new cluster', () => {
    expect(choosePostgresMajor(['9.6', '15', '13', '16'], undefined)).toBe('16');
    expect(choosePostgresMajor(['15'], undefined)).toBe('15');
  });

  it('keeps the major that initialised the data directory (a cluster opens only with its own)', () => {
    expect(choosePostgresMajor(['15', '16'], '15')).toBe('15');
  });

  it('finds nothing when that major or any major is missing', () => {
    expect(choosePostgresMajor(['16'], '15')).toBeUndefined();
    expect(choosePostgresMajor([], undefined)).toBeUndefined();
  });
});

const passwd = [
  'root:x:0:0:root:/root:/bin/bash',
  'postgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash',
  '',
].join('\n');

describe('parsePasswd', () => {
  it('reads uid and gid of the named user', () => {
    expect(parsePasswd(passwd, 'postgres')).toEqual({ name: 'postgres', uid: 101, gid: 104 });
    expect(parsePasswd(passwd, 'post')).toBeUndefined();
  });
});

describe('postgresUser', () => {
  it('runs PostgreSQL as the postgres system user under root, and as the caller otherwise', () => {
    expect(postgresUser(0, () => passwd)).toEqual({ name: 'postgres', uid: 101, gid: 104 });
    expect(postgresUser(1000, () => passwd)).toBeUndefined();
  });

  it('says how to get the user when root has none', () => {
    expect(postgresUser(0, () => 'root:x:0:0:root:/root:/bin/bash\n')).toEqual({
      problem: expect.stringContaining('apt-get install -y postgresql') as string,
    });
  });
});

describe('socketPathProblem', () => {
  it('accepts a socket path that fits in sun_path (107 bytes)', () => {
    expect(socketPathProblem('/work/repo/.stack/run/postgres', 5432)).toBeUndefined();
  });

  it('names the path and the fix when it does not', () => {
    const deep = `/${'d'.repeat(100)}/run/postgres`;
    expect(socketPathProblem(deep, 5432)).toMatch(
      /\.s\.PGSQL\.5432 is longer than 107 bytes.*TRIBUTARY_STACK_DIR/,
    );
  });
});

describe('unreachableDirs', () => {
  it('names the directories above the data dir that the server user cannot enter', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-reach-')); // mode 0700: only its owner enters
    try {
      fs.mkdirSync(path.join(root, 'stack'), { mode: 0o755 });
      const dataDir = path.join(root, 'stack', 'data', 'postgres'); // not created yet: the stack creates it
      const stranger = { name: 'stranger', uid: 54321, gid: 54321 };
      const owner = { name: 'me', uid: fs.statSync(root).uid, gid: 54321 };
      expect(unreachableDirs(dataDir, stranger)).toEqual([root]);
      expect(unreachableDirs(dataDir, owner)).toEqual([]);
      fs.chmodSync(root, 0o711);
      expect(unreachableDirs(dataDir, stranger)).toEqual([]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('findPostgres', () => {
  const config = (env: NodeJS.ProcessEnv = {}) =>
    loadConfig({ env, cwd: '/r', home: '/home/dev', repoRoot: '/r' });

  it('says exactly what to install when no server is found', () => {
    expect(findPostgres(config(), '/nonexistent/postgresql')).toEqual({
      problem:
        "PostgreSQL server not found (no /nonexistent/postgresql/<major>/bin/postgres): install Debian's package " +
        '(as root: `apt-get install -y postgresql`), point TRIBUTARY_POSTGRES_BIN at a PostgreSQL bin directory, ' +
        'or keep FerretDB on SQLite with TRIBUTARY_STORE_BACKEND=sqlite',
    });
  });

  it('takes the newest major that has a server binary', () => {
    const lib = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-lib-'));
    try {
      for (const major of ['13', '16', '17']) {
        fs.mkdirSync(path.join(lib, major, 'bin'), { recursive: true });
        if (major !== '17') fs.writeFileSync(path.join(lib, major, 'bin', 'postgres'), '', { mode: 0o755 });
      }
      expect(findPostgres(config(), lib)).toEqual({ binDir: path.join(lib, '16', 'bin'), major: '16' });
    } finally {
      fs.rmSync(lib, { recursive: true, force: true });
    }
  });

  it('rejects a TRIBUTARY_POSTGRES_BIN without a server binary', () => {
    expect(findPostgres(config({ TRIBUTARY_POSTGRES_BIN: '/nope/bin' }))).toEqual({
      problem: 'TRIBUTARY_POSTGRES_BIN=/nope/bin has no postgres server binary',
    });
  });
});
