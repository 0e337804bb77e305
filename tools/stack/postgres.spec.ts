import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from './config';
import { StackError } from './errors';
import {
  choosePostgresMajor,
  claimOutsidePlace,
  findPostgres,
  parsePasswd,
  postgresPlace,
  postgresUser,
  removeOutsidePostgres,
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

describe('postgresPlace', () => {
  /** A checkout under a mode-700 folder (root's home, as in many containers), and a place outside for its data. */
  function layout() {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-place-')); // mode 0700
    const stackDir = path.join(root, 'checkout', '.stack');
    fs.mkdirSync(stackDir, { recursive: true, mode: 0o755 });
    const outsideRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-outside-'));
    const config = loadConfig({
      env: { TRIBUTARY_STACK_DIR: stackDir },
      cwd: root,
      home: root,
      repoRoot: root,
    });
    return { root, stackDir, outsideRoot, config };
  }
  const stranger = { name: 'postgres', uid: 54321, gid: 54321 };
  /** What initdb leaves that tells a cluster from an empty directory. */
  const initialise = (dataDir: string) => {
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(path.join(dataDir, 'PG_VERSION'), '15\n');
  };

  it('keeps the data in the stack dir when the server user can reach it, or when it runs as the caller', () => {
    const { root, stackDir, outsideRoot, config } = layout();
    try {
      expect(postgresPlace(config, null, outsideRoot)).toEqual({
        data: path.join(stackDir, 'data', 'postgres'),
        socketDir: path.join(stackDir, 'run', 'postgres'),
      });
      fs.chmodSync(root, 0o711);
      expect(postgresPlace(config, stranger, outsideRoot).outside).toBeUndefined();
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
      fs.rmSync(outsideRoot, { recursive: true, force: true });
    }
  });

  it('moves it outside, to a place named after the stack dir, when the server user cannot enter the checkout', () => {
    const { root, outsideRoot, config } = layout();
    const other = loadConfig({
      env: { TRIBUTARY_STACK_DIR: path.join(root, 'other', '.stack') },
      cwd: root,
      home: root,
      repoRoot: root,
    });
    try {
      const place = postgresPlace(config, stranger, outsideRoot);
      expect(place.outside).toMatch(new RegExp(`^${outsideRoot}/stack-[0-9a-f]{12}$`));
      expect(place).toEqual({
        data: path.join(place.outside ?? '', 'data'),
        socketDir: path.join(place.outside ?? '', 'run'),
        outside: place.outside,
      });
      // Deterministic per stack dir, and another checkout gets another place.
      expect(postgresPlace(config, stranger, outsideRoot)).toEqual(place);
      expect(postgresPlace(other, stranger, outsideRoot).outside).not.toBe(place.outside);
      // A cluster initialised there stays there, even once the checkout becomes reachable.
      claimOutsidePlace(place, config, stranger, outsideRoot);
      initialise(place.data);
      fs.chmodSync(root, 0o711);
      expect(postgresPlace(config, stranger, outsideRoot)).toEqual(place);
      // reset removes it, and the stack dir's pointer to it.
      expect(removeOutsidePostgres(config, outsideRoot)).toBe(place.outside);
      expect(fs.existsSync(place.outside ?? '')).toBe(false);
      expect(fs.readdirSync(path.join(config.stackDir, 'data'))).toEqual([]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
      fs.rmSync(outsideRoot, { recursive: true, force: true });
    }
  });

  it('says where the data goes and which directory shuts the server user out', () => {
    const { root, stackDir, outsideRoot, config } = layout();
    try {
      const place = postgresPlace(config, stranger, outsideRoot);
      expect(claimOutsidePlace(place, config, stranger, outsideRoot)).toEqual([
        `the postgres user cannot enter ${root}, so PostgreSQL's data and socket are in ${place.outside} ` +
          '(`npm run stack -- reset` deletes them)',
      ]);
      // Both sides say whose it is: the place names the stack dir, the stack dir points at the place.
      expect(fs.readFileSync(path.join(place.outside ?? '', 'STACK_DIR'), 'utf8')).toMatch(
        new RegExp(`^${stackDir}\n`),
      );
      expect(fs.readFileSync(path.join(stackDir, 'data', 'postgres.outside'), 'utf8')).toBe(
        `${place.outside}\n`,
      );
      // Idempotent: claiming again changes nothing and deletes nothing.
      initialise(place.data);
      claimOutsidePlace(postgresPlace(config, stranger, outsideRoot), config, stranger, outsideRoot);
      expect(fs.existsSync(path.join(place.data, 'PG_VERSION'))).toBe(true);
      // Nothing to claim for a cluster in the stack dir.
      expect(
        claimOutsidePlace(postgresPlace(config, null, outsideRoot), config, undefined, outsideRoot),
      ).toEqual([]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
      fs.rmSync(outsideRoot, { recursive: true, force: true });
    }
  });

  it('starts over when the stack dir was deleted by hand, as it would with the cluster inside it', () => {
    const { root, stackDir, outsideRoot, config } = layout();
    try {
      const first = postgresPlace(config, stranger, outsideRoot);
      claimOutsidePlace(first, config, stranger, outsideRoot);
      initialise(first.data);
      fs.writeFileSync(path.join(first.data, 'old-table'), '');
      // rm -rf .stack (or a fresh clone at the same path), then up.
      fs.rmSync(stackDir, { recursive: true });
      fs.mkdirSync(stackDir);
      const again = postgresPlace(config, stranger, outsideRoot);
      expect(again).toEqual({ ...first, stale: true });
      expect(claimOutsidePlace(again, config, stranger, outsideRoot)).toContain(
        `deleted the PostgreSQL data an earlier ${stackDir} left in ${first.outside}`,
      );
      expect(fs.existsSync(first.data)).toBe(false);
      expect(postgresPlace(config, stranger, outsideRoot)).toEqual(first);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
      fs.rmSync(outsideRoot, { recursive: true, force: true });
    }
  });

  it('says how else to get a stack when the place outside cannot be made', () => {
    const { root, outsideRoot, config } = layout();
    const notADir = path.join(outsideRoot, 'file');
    fs.writeFileSync(notADir, '');
    try {
      const place = postgresPlace(config, stranger, notADir);
      expect(() => claimOutsidePlace(place, config, stranger, notADir)).toThrow(
        new StackError(
          `cannot keep PostgreSQL's data in ${place.outside}: ENOTDIR: not a directory, mkdir '${place.outside}'`,
          [
            `  - or let the postgres user enter the checkout: chmod o+x ${root}`,
            '  - or point TRIBUTARY_STACK_DIR at a folder the PostgreSQL server user can enter',
          ],
        ),
      );
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
      fs.rmSync(outsideRoot, { recursive: true, force: true });
    }
  });
});

describe('StackError', () => {
  it('carries its details in its message, so any caller printing the message prints the reason', () => {
    const error = new StackError('cannot start the stack:', ['  - PostgreSQL server not found']);
    expect(error.message).toBe('cannot start the stack:\n  - PostgreSQL server not found');
    expect(error.summary).toBe('cannot start the stack:');
  });
});
