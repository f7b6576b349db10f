import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { StorageNotFoundError, StoragePort, StoredObjectInfo, assertValidKey } from './storage.port';

export interface S3StorageOptions {
  bucket: string;
  /** Key prefix inside the bucket ("" or ending without a slash, e.g. "saas/prod"). */
  prefix: string;
  region: string;
  /** S3-compatible endpoint (MinIO, Ceph RGW, R2…); undefined = AWS. */
  endpoint?: string;
  /** Path-style URLs (endpoint/bucket/key), which most self-hosted stores need. */
  forcePathStyle: boolean;
  /** Explicit credentials; undefined = the AWS SDK's default chain (AWS_ACCESS_KEY_ID…, profiles, roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

const DELETE_BATCH = 1000; // S3's DeleteObjects limit

/** Objects in an S3-compatible bucket. PUTs are atomic in S3, so readers never see a partial object. */
export class S3StorageDriver extends StoragePort {
  private readonly client: S3Client;

  constructor(private readonly options: S3StorageOptions) {
    super();
    this.client = new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle,
      credentials: options.credentials,
      // Checksums only where S3 requires them: many S3-compatible stores reject the newer trailers.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  /** Where this driver writes, for messages: s3://bucket/prefix at the endpoint. */
  get location(): string {
    const where = `s3://${this.options.bucket}${this.options.prefix ? `/${this.options.prefix}` : ''}`;
    return this.options.endpoint ? `${where} at ${this.options.endpoint}` : where;
  }

  /** Writes, reads back and deletes a probe object, so a wrong bucket or credentials stop startup. */
  async verifyAccess(): Promise<void> {
    const key = `system/storage-probe-${randomBytes(6).toString('hex')}`;
    try {
      await this.put(key, Buffer.from('probe'));
      if ((await this.get(key)).toString() !== 'probe') throw new Error('the probe object read back differently');
      await this.delete(key);
    } catch (error) {
      throw new Error(`S3 storage ${this.location} is not reachable and writable: ${describe(error)}`);
    }
  }

  async put(key: string, data: Buffer | Uint8Array): Promise<StoredObjectInfo> {
    await this.client.send(new PutObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(key), Body: data, ContentLength: data.byteLength }));
    return { key, bytes: data.byteLength };
  }

  async get(key: string): Promise<Buffer> {
    const { stream } = await this.stream(key);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
    return Buffer.concat(chunks);
  }

  async stream(key: string): Promise<{ stream: Readable; bytes: number }> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(key) }));
      const body = out.Body;
      if (!(body instanceof Readable)) throw new Error('S3 returned no readable body');
      return { stream: body, bytes: out.ContentLength ?? 0 };
    } catch (error) {
      throw notFound(error) ? new StorageNotFoundError(key) : error;
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(key) }));
      return true;
    } catch (error) {
      if (notFound(error)) return false;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(key) }));
  }

  async list(prefix: string): Promise<string[]> {
    const strip = this.options.prefix ? this.options.prefix.length + 1 : 0;
    const keys: string[] = [];
    for await (const page of this.pages(prefix)) keys.push(...page.map((k) => k.slice(strip)));
    return keys;
  }

  /** Full object keys under `prefix/`, a page (≤ 1000) at a time. */
  private async *pages(prefix: string): AsyncGenerator<string[]> {
    const listPrefix = `${this.objectKey(prefix)}/`;
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.options.bucket, Prefix: listPrefix, ContinuationToken: token }));
      yield (page.Contents ?? []).map((o) => o.Key).filter((k): k is string => k !== undefined);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async deletePrefix(prefix: string): Promise<void> {
    for await (const keys of this.pages(prefix)) {
      for (let i = 0; i < keys.length; i += DELETE_BATCH) {
        const batch = keys.slice(i, i + DELETE_BATCH).map((Key) => ({ Key }));
        const out = await this.client.send(new DeleteObjectsCommand({ Bucket: this.options.bucket, Delete: { Objects: batch, Quiet: true } }));
        if (out.Errors && out.Errors.length > 0) throw new Error(`S3 could not delete ${out.Errors.length} objects under ${prefix}: ${out.Errors[0].Message ?? out.Errors[0].Code}`);
      }
    }
  }

  /** S3 PUTs are atomic: a killed writer leaves nothing behind. */
  async discardPartialWrites(key: string): Promise<void> {
    assertValidKey(key);
  }

  private objectKey(key: string): string {
    assertValidKey(key);
    return this.options.prefix ? `${this.options.prefix}/${key}` : key;
  }
}

function notFound(error: unknown): boolean {
  if (error instanceof S3ServiceException) {
    return error.name === 'NoSuchKey' || error.name === 'NotFound' || error.$metadata?.httpStatusCode === 404;
  }
  return false;
}

function describe(error: unknown): string {
  if (error instanceof S3ServiceException) return `${error.name} (HTTP ${error.$metadata?.httpStatusCode ?? '?'}): ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
