/**
 * Scratch copies of a workspace for the service-list tests: the list, every file the sync reads or writes, and the
 * listed apps as links to the real ones (read only: their config modules load through the link). Tests edit and
 * sync the copy, so the real files never change.
 */
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  symlinkSync,
  unlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { REPO_ROOT, SERVICE_LIST_FILE, readServiceList } from './service-list';
import { FILES, SYNCED_FILES } from './sync';

/** Where scratch workspaces go by default: the OS temp directory (the repo's tmp/ when code must run there). */
export function createScratchWorkspace(parent: string = tmpdir(), source: string = REPO_ROOT): string {
  mkdirSync(parent, { recursive: true });
  const root = mkdtempSync(join(parent, 'services-'));
  for (const file of [SERVICE_LIST_FILE, FILES.catalog, ...SYNCED_FILES]) {
    mkdirSync(dirname(join(root, file)), { recursive: true });
    cpSync(join(source, file), join(root, file));
  }
  mkdirSync(join(root, 'apps'));
  for (const { name } of readServiceList(source).services) {
    symlinkSync(join(source, 'apps', name), join(root, 'apps', name), 'dir');
  }
  return root;
}

/**
 * Makes apps/<name>/<file> of a scratch workspace its own copy, so a test may edit it without touching the real app:
 * each link on the way becomes a directory of links to the real entries, the file a copy. Returns its path.
 */
export function ownAppFile(root: string, name: string, file: string): string {
  let at = join(root, 'apps', name);
  for (const part of file.split('/')) {
    if (lstatSync(at).isSymbolicLink()) {
      const real = realpathSync(at);
      unlinkSync(at);
      mkdirSync(at);
      for (const entry of readdirSync(real)) symlinkSync(join(real, entry), join(at, entry));
    }
    at = join(at, part);
  }
  if (existsSync(at) && lstatSync(at).isSymbolicLink()) {
    const real = realpathSync(at);
    unlinkSync(at);
    cpSync(real, at);
  }
  return at;
}

/** Removes a scratch workspace (the links only, never what they point to). */
export function removeScratchWorkspace(root: string): void {
  rmSync(root, { recursive: true, force: true });
}
