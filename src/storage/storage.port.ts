import type { Readable } from 'node:stream';

export interface StoredObjectInfo {
  key: string;
  bytes: number;
}

/**
 * Blob storage for images and adapters, addressed by keys like `tenants/<id>/datasets/<id>/x.png`
 * (storage-keys.ts builds every key).
 * The local-filesystem driver is the embedded default; an S3-compatible driver implements the same
 * port for scale-out. Abstract class rather than interface so it doubles as the injection token.
 */
export abstract class StoragePort {
  /** Writes the whole object; readers never see a partly written one. */
  abstract put(key: string, data: Buffer | Uint8Array): Promise<StoredObjectInfo>;
  /** The whole object; rejects with StorageNotFoundError when absent. */
  abstract get(key: string): Promise<Buffer>;
  /** A stream of the object; rejects with StorageNotFoundError when absent. */
  abstract stream(key: string): Promise<{ stream: Readable; bytes: number }>;
  abstract exists(key: string): Promise<boolean>;
  /** Removes the object; absent objects are not an error. */
  abstract delete(key: string): Promise<void>;
  /** Keys of every object under `prefix/`, in no particular order. */
  abstract list(prefix: string): Promise<string[]>;
  /** Removes every object under `prefix/`. */
  abstract deletePrefix(prefix: string): Promise<void>;
  /** Removes what a writer killed in the middle of `put(key)` left behind (never the object itself). */
  abstract discardPartialWrites(key: string): Promise<void>;
}

export class StorageNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`No stored object at ${key}`);
    this.name = 'StorageNotFoundError';
  }
}

export class InvalidStorageKeyError extends Error {
  constructor(readonly key: string, reason: string) {
    super(`Invalid storage key "${key}": ${reason}`);
    this.name = 'InvalidStorageKeyError';
  }
}

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Keys are built from ids (storage-keys.ts), never from user file names; this check is the backstop
 * that keeps every key inside the storage root whatever the caller passes.
 */
export function assertValidKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new InvalidStorageKeyError(String(key), 'empty');
  if (key.length > 512) throw new InvalidStorageKeyError(key, 'longer than 512 characters');
  const segments = key.split('/');
  for (const segment of segments) {
    if (!SEGMENT.test(segment) || segment.includes('..')) {
      throw new InvalidStorageKeyError(key, `bad segment "${segment}"`);
    }
  }
}
