import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3StorageOptions } from '../../src/storage/s3-storage.driver';

// s3rver: an S3-protocol server (signature checks, XML API) on loopback, with its objects in a temp folder.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('s3rver') as new (options: Record<string, unknown>) => { run(): Promise<AddressInfo>; close(): Promise<void> };

export const TEST_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface TestS3Server {
  endpoint: string;
  bucket: string;
  /** Driver options for this server; `prefix` keeps tests that share a bucket apart. */
  options(prefix?: string): S3StorageOptions;
  /** The environment a child process (API or worker) needs to use this bucket. */
  env(prefix?: string): Record<string, string>;
  close(): Promise<void>;
}

export async function startS3Server(bucket = 'saas-test'): Promise<TestS3Server> {
  const directory = mkdtempSync(join(tmpdir(), 'saas-s3-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
  const address = await server.run();
  const endpoint = `http://127.0.0.1:${address.port}`;
  return {
    endpoint,
    bucket,
    options: (prefix = '') => ({ bucket, prefix, region: 'us-east-1', endpoint, forcePathStyle: true, credentials: TEST_S3_CREDENTIALS }),
    env: (prefix = '') => ({
      STORAGE_DRIVER: 's3',
      S3_BUCKET: bucket,
      S3_ENDPOINT: endpoint,
      S3_REGION: 'us-east-1',
      S3_PREFIX: prefix,
      S3_FORCE_PATH_STYLE: 'true',
      S3_ACCESS_KEY_ID: TEST_S3_CREDENTIALS.accessKeyId,
      S3_SECRET_ACCESS_KEY: TEST_S3_CREDENTIALS.secretAccessKey,
    }),
    close: async () => {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
