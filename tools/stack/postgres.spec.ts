import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  choosePostgresMajor,
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
