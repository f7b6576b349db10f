import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { StorageNotFoundError, StoragePort, StoredObjectInfo, assertValidKey } from './storage.port';

/** Stores objects as files under a root folder (DATA_DIR/objects in the embedded default). */
export class LocalStorageDriver extends StoragePort {
  private readonly root: string;

  constructor(root: string) {
    super();
    this.root = resolve(root);
  }

  async put(key: string, data: Buffer | Uint8Array): Promise<StoredObjectInfo> {
    const path = this.pathFor(key);
    await mkdir(dirname(path), { recursive: true });
    // Write to a sibling temp file, flush, then rename: a crash leaves either the old object or the new one.
    const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    const handle = await open(temp, 'wx', 0o640);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } catch (error) {
      await handle.close();
      await rm(temp, { force: true });
      throw error;
    }
    await handle.close();
    try {
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    return { key, bytes: data.byteLength };
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await readFile(this.pathFor(key));
    } catch (error) {
      throw this.mapNotFound(error, key);
    }
  }

  async stream(key: string): Promise<{ stream: Readable; bytes: number }> {
    const path = this.pathFor(key);
    try {
      const info = await stat(path);
      if (!info.isFile()) throw new StorageNotFoundError(key);
      return { stream: createReadStream(path), bytes: info.size };
    } catch (error) {
      throw this.mapNotFound(error, key);
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.pathFor(key))).isFile();
    } catch {
      return false;
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await unlink(this.pathFor(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const dir = this.pathFor(prefix);
    const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
    // Temp files of unfinished puts are not objects.
    return entries
      .filter((e) => e.isFile() && !/\.[0-9a-f]{12}\.tmp$/.test(e.name))
      .map((e) => relative(this.root, join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)).split(sep).join('/'));
  }

  async deletePrefix(prefix: string): Promise<void> {
    await rm(this.pathFor(prefix), { recursive: true, force: true });
  }

  async discardPartialWrites(key: string): Promise<void> {
    const path = this.pathFor(key);
    const prefix = `${basename(path)}.`;
    const names = await readdir(dirname(path)).catch(() => [] as string[]);
    // Temp files of put() are `<name>.<12 hex>.tmp`; a process killed before its rename leaves one.
    for (const name of names) {
      if (name.startsWith(prefix) && /^\.[0-9a-f]{12}\.tmp$/.test(name.slice(prefix.length - 1))) await rm(join(dirname(path), name), { force: true });
    }
  }

  private pathFor(key: string): string {
    assertValidKey(key);
    const path = resolve(join(this.root, ...key.split('/')));
    const rel = relative(this.root, path);
    if (rel === '' || rel.startsWith('..') || rel.split(sep).includes('..')) {
      throw new StorageNotFoundError(key);
    }
    return path;
  }

  private mapNotFound(error: unknown, key: string): unknown {
    const code = (error as NodeJS.ErrnoException)?.code;
    return code === 'ENOENT' || code === 'EISDIR' ? new StorageNotFoundError(key) : error;
  }
}
