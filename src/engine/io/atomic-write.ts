// Crash-safe file writes: readers see either the old file or the complete new one, never a torn write.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

/** A sibling temporary name (same directory, so the final rename stays on one filesystem). */
export function temporarySiblingPath(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Names temporarySiblingPath gives: `.<name>.tmp-<pid>-<8 hex>`. */
const TEMPORARY_SIBLING = /^\..+\.tmp-\d+-[0-9a-f]{8}$/;

/**
 * Removes the temporary files a writer killed between write and rename left in `dir` (never a
 * completed file). Only for a folder no other process is writing to at the time.
 */
export async function discardTemporarySiblings(dir: string): Promise<void> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  for (const name of names) if (TEMPORARY_SIBLING.test(name)) await fsp.rm(path.join(dir, name), { force: true });
}

/** Flushes a directory entry so a completed rename survives power loss; not supported everywhere. */
async function fsyncDirectory(dir: string): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, 'r');
    await fh.sync();
  } catch {
    // Some platforms (Windows) and filesystems refuse fsync on directories; the rename is still atomic.
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** Writes data to a temporary file, fsyncs it, then renames it over `target`. */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  await writeFileAtomicWith(target, (fh) => fh.writeFile(data));
}

/** The same for content written piece by piece through the open temporary file. */
export async function writeFileAtomicWith(target: string, write: (fh: fsp.FileHandle) => Promise<void>): Promise<void> {
  await fsp.mkdir(path.dirname(target), { recursive: true });
  const tmp = temporarySiblingPath(target);
  const fh = await fsp.open(tmp, 'w');
  try {
    try {
      await write(fh);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  await fsyncDirectory(path.dirname(target));
}
