import type { S3StorageOptions } from './s3-storage.driver';

export type StorageConfig = { driver: 'local' } | ({ driver: 's3' } & S3StorageOptions);

type Env = Record<string, string | undefined>;

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;

/**
 * STORAGE_DRIVER=local (default) keeps objects under DATA_DIR/objects; STORAGE_DRIVER=s3 (or S3_BUCKET
 * set) stores them in a bucket: S3_BUCKET, S3_REGION, S3_ENDPOINT, S3_PREFIX, S3_FORCE_PATH_STYLE, and
 * credentials from S3_ACCESS_KEY_ID/S3_SECRET_ACCESS_KEY or the AWS SDK's chain (AWS_ACCESS_KEY_ID…).
 */
export function parseStorageConfig(env: Env, problems: string[]): StorageConfig {
  const named = env.STORAGE_DRIVER?.trim().toLowerCase();
  const bucket = env.S3_BUCKET?.trim();
  if (named && named !== 'local' && named !== 's3') {
    problems.push(`STORAGE_DRIVER must be local or s3 (got "${env.STORAGE_DRIVER}")`);
    return { driver: 'local' };
  }
  if (named === 'local' || (!named && !bucket)) return { driver: 'local' };
  if (!bucket) {
    problems.push('STORAGE_DRIVER=s3 needs S3_BUCKET');
    return { driver: 'local' };
  }
  if (!BUCKET.test(bucket)) problems.push(`S3_BUCKET "${bucket}" is not a valid bucket name (3–63 lower-case letters, digits, dots, hyphens)`);
  const prefix = (env.S3_PREFIX?.trim() ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix && !PREFIX.test(prefix)) problems.push(`S3_PREFIX "${env.S3_PREFIX}" must be path segments of letters, digits, ".", "_" and "-"`);
  const endpoint = env.S3_ENDPOINT?.trim() || undefined;
  if (endpoint) {
    try {
      const url = new URL(endpoint);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') problems.push(`S3_ENDPOINT must be an http(s) URL (got "${endpoint}")`);
    } catch {
      problems.push(`S3_ENDPOINT must be an http(s) URL (got "${endpoint}")`);
    }
  }
  const pathStyle = env.S3_FORCE_PATH_STYLE?.trim().toLowerCase();
  if (pathStyle && !['true', 'false', '1', '0'].includes(pathStyle)) problems.push('S3_FORCE_PATH_STYLE must be true or false');
  const accessKeyId = env.S3_ACCESS_KEY_ID?.trim();
  const secretAccessKey = env.S3_SECRET_ACCESS_KEY?.trim();
  if (Boolean(accessKeyId) !== Boolean(secretAccessKey)) problems.push('S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together');
  return {
    driver: 's3',
    bucket,
    prefix,
    region: env.S3_REGION?.trim() || env.AWS_REGION?.trim() || 'us-east-1',
    endpoint,
    // Self-hosted stores (MinIO, Ceph) want path style; AWS itself prefers virtual hosts.
    forcePathStyle: pathStyle ? pathStyle === 'true' || pathStyle === '1' : endpoint !== undefined,
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined,
  };
}
