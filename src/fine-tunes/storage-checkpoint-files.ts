import type { CheckpointFiles } from '../engine';
import { StorageNotFoundError, StoragePort } from '../storage/storage.port';

/**
 * A fine-tune's checkpoint files as objects under one storage prefix, so any worker (on any machine)
 * resumes a job or continues an adapter with its optimizer state. Each put is atomic in both drivers,
 * and the checkpoint's manifest is written last, so a killed save leaves the previous checkpoint whole.
 */
export function storageCheckpointFiles(storage: StoragePort, prefix: string): CheckpointFiles {
  const key = (name: string) => `${prefix}/${name}`;
  return {
    location: `storage:${prefix}`,
    async read(name) {
      try {
        return await storage.get(key(name));
      } catch (error) {
        if (error instanceof StorageNotFoundError) return null;
        throw error;
      }
    },
    async write(name, data) {
      await storage.put(key(name), data);
    },
    remove: (name) => storage.delete(key(name)),
    list: async () => (await storage.list(prefix)).map((k) => k.slice(prefix.length + 1)).filter((name) => !name.includes('/')),
    async discardTemporaries() {
      for (const name of await this.list()) await storage.discardPartialWrites(key(name));
    },
  };
}
