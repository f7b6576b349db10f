import * as fs from 'node:fs';
import * as path from 'node:path';

// Packages are looked up next to this file first (normal install, dist/ inside the repo) and then from
// the working directory, so builds emitted outside the repo still find the project's node_modules.
function searchRoots(): string[] {
  return [__dirname, process.cwd()];
}

const dirCache = new Map<string, string>();

/** Absolute directory of an installed package. */
export function resolvePackageDir(name: string): string {
  let dir = dirCache.get(name);
  if (!dir) {
    dir = path.dirname(require.resolve(`${name}/package.json`, { paths: searchRoots() }));
    dirCache.set(name, dir);
  }
  return dir;
}

/** Installed version of a package (part of dataset cache keys). */
export function packageVersion(name: string): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(resolvePackageDir(name), 'package.json'), 'utf8')) as {
    version?: string;
  };
  return pkg.version ?? '0.0.0';
}

/** `require` a runtime dependency with the same lookup order as resolvePackageDir. */
export function requireFromProject<T>(name: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(require.resolve(name, { paths: searchRoots() })) as T;
}

export function readJsonFile<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}
