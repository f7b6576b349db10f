import * as fsp from 'fs/promises';
import * as path from 'path';
import { discardTemporarySiblings, writeFileAtomic } from '../io/atomic-write';

/**
 * Where a CheckpointStore keeps its few files (a manifest and a tensor file): a local folder, or a
 * blob store the caller provides (the API's object storage), so a job can resume on another machine.
 * `write` must be atomic: a reader sees the old bytes or the new ones, never a part.
 */
export interface CheckpointFiles {
  /** For messages: the folder or the storage prefix. */
  readonly location: string;
  read(name: string): Promise<Buffer | null>;
  write(name: string, data: Uint8Array): Promise<void>;
  remove(name: string): Promise<void>;
  list(): Promise<string[]>;
  /** Removes what a writer killed mid-`write` left behind (nothing, where writes are atomic). */
  discardTemporaries(): Promise<void>;
}

/** Checkpoint files in a local folder, written through temp files and renames. */
export function folderCheckpointFiles(dir: string): CheckpointFiles {
  return {
    location: dir,
    async read(name) {
      try {
        return await fsp.readFile(path.join(dir, name));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    },
    async write(name, data) {
      await fsp.mkdir(dir, { recursive: true });
      await writeFileAtomic(path.join(dir, name), data);
    },
    async remove(name) {
      await fsp.rm(path.join(dir, name), { force: true });
    },
    list: () => fsp.readdir(dir).catch(() => [] as string[]),
    discardTemporaries: () => discardTemporarySiblings(dir),
  };
}
