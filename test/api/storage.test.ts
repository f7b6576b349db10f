import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { LocalStorageDriver } from '../../src/storage/local-storage.driver';
import { S3StorageDriver } from '../../src/storage/s3-storage.driver';
import { parseStorageConfig } from '../../src/storage/storage-config';
import { InvalidStorageKeyError, StorageNotFoundError, StoragePort } from '../../src/storage/storage.port';
import { startS3Server, TestS3Server } from '../support/s3-server';

interface DriverUnderTest {
  storage: StoragePort;
  close(): Promise<void>;
}

const DRIVERS: Record<string, () => Promise<DriverUnderTest>> = {
  local: async () => {
    const base = mkdtempSync(join(tmpdir(), 'saas-storage-'));
    return { storage: new LocalStorageDriver(join(base, 'objects')), close: async () => rmSync(base, { recursive: true, force: true }) };
  },
  // A real S3-protocol server on loopback (s3rver), with a key prefix as deployments use.
  s3: async () => {
    const server = await startS3Server();
    return { storage: new S3StorageDriver(server.options('saas/test')), close: () => server.close() };
  },
};

// The storage port's contract, run against every driver.
for (const [name, start] of Object.entries(DRIVERS)) {
  describe(`${name} storage driver: the storage port contract`, () => {
    let driver: DriverUnderTest;
    let storage: StoragePort;
    before(async () => {
      driver = await start();
      storage = driver.storage;
    });
    after(() => driver.close());

    it('puts, gets, streams and deletes objects by key', async () => {
      const info = await storage.put('tenants/t1/a.bin', Buffer.from('hello'));
      assert.deepEqual(info, { key: 'tenants/t1/a.bin', bytes: 5 });
      assert.equal((await storage.get('tenants/t1/a.bin')).toString(), 'hello');
      const { stream, bytes } = await storage.stream('tenants/t1/a.bin');
      assert.equal(bytes, 5);
      assert.equal(await text(stream), 'hello');
      assert.equal(await storage.exists('tenants/t1/a.bin'), true);
      await storage.put('tenants/t1/a.bin', Buffer.from('replaced'));
      assert.equal((await storage.get('tenants/t1/a.bin')).toString(), 'replaced');
      await storage.delete('tenants/t1/a.bin');
      assert.equal(await storage.exists('tenants/t1/a.bin'), false);
      await storage.delete('tenants/t1/a.bin');
    });

    it('round-trips binary data of a few megabytes byte for byte', async () => {
      const data = Buffer.alloc(3 * 1024 * 1024 + 17);
      for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
      await storage.put('tenants/t1/big.safetensors', data);
      assert.ok((await storage.get('tenants/t1/big.safetensors')).equals(data));
      const { stream, bytes } = await storage.stream('tenants/t1/big.safetensors');
      assert.equal(bytes, data.length);
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      assert.ok(Buffer.concat(chunks).equals(data));
    });

    it('reports missing objects as StorageNotFoundError', async () => {
      await assert.rejects(storage.get('tenants/none/x'), StorageNotFoundError);
      await assert.rejects(storage.stream('tenants/none/x'), StorageNotFoundError);
      assert.equal(await storage.exists('tenants/none/x'), false);
    });

    it('deletes everything under a prefix, and only that', async () => {
      await storage.put('tenants/t3/d/1.png', Buffer.from('1'));
      await storage.put('tenants/t3/d/sub/2.png', Buffer.from('2'));
      await storage.put('tenants/t3/dx.png', Buffer.from('not under d/'));
      await storage.put('tenants/t3/keep.png', Buffer.from('3'));
      await storage.deletePrefix('tenants/t3/d');
      assert.equal(await storage.exists('tenants/t3/d/1.png'), false);
      assert.equal(await storage.exists('tenants/t3/d/sub/2.png'), false);
      assert.equal(await storage.exists('tenants/t3/dx.png'), true);
      assert.equal(await storage.exists('tenants/t3/keep.png'), true);
      await storage.deletePrefix('tenants/t3/absent');
    });

    it('lists the keys under a prefix, at any depth, and only those', async () => {
      const keys = ['tenants/t6/c/checkpoint.json', 'tenants/t6/c/state-4.safetensors', 'tenants/t6/c/sub/x.bin'];
      for (const key of keys) await storage.put(key, Buffer.from(key));
      await storage.put('tenants/t6/cx.bin', Buffer.from('not under c/'));
      assert.deepEqual((await storage.list('tenants/t6/c')).sort(), keys);
      assert.deepEqual(await storage.list('tenants/t6/absent'), []);
    });

    it('discarding partial writes never removes the object itself', async () => {
      await storage.put('tenants/t4/w.bin', Buffer.from('kept'));
      await storage.discardPartialWrites('tenants/t4/w.bin');
      assert.equal((await storage.get('tenants/t4/w.bin')).toString(), 'kept');
    });

    it('refuses keys that could leave the root', async () => {
      for (const key of ['../escape.txt', 'a/../../escape.txt', '/etc/passwd', 'a//b', 'a/./b', 'a\\..\\b', '', '.hidden', 'a/b/..', 'a/\u0000b']) {
        await assert.rejects(storage.put(key, Buffer.from('x')), InvalidStorageKeyError, `key ${JSON.stringify(key)}`);
        await assert.rejects(storage.get(key), InvalidStorageKeyError, `key ${JSON.stringify(key)}`);
        await assert.rejects(storage.deletePrefix(key), InvalidStorageKeyError, `key ${JSON.stringify(key)}`);
      }
    });
  });
}

describe('local storage driver: files on disk', () => {
  let base: string;
  let root: string;
  let storage: LocalStorageDriver;
  before(() => {
    base = mkdtempSync(join(tmpdir(), 'saas-storage-'));
    root = join(base, 'objects');
    storage = new LocalStorageDriver(root);
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  it('writes atomically: no temp files are left behind', async () => {
    await storage.put('tenants/t2/x/y.png', Buffer.alloc(1000, 7));
    assert.deepEqual(readdirSync(join(root, 'tenants', 't2', 'x')), ['y.png']);
  });

  it('discards the temp file a killed writer left, and nothing else', async () => {
    await storage.put('tenants/t5/a.bin', Buffer.from('a'));
    writeFileSync(join(root, 'tenants', 't5', 'a.bin.0123456789ab.tmp'), 'partial');
    writeFileSync(join(root, 'tenants', 't5', 'a.bin.notes'), 'other');
    await storage.discardPartialWrites('tenants/t5/a.bin');
    assert.deepEqual(readdirSync(join(root, 'tenants', 't5')).sort(), ['a.bin', 'a.bin.notes']);
  });

  it('keeps keys inside the root', async () => {
    await assert.rejects(storage.put('../escape.txt', Buffer.from('x')), InvalidStorageKeyError);
    assert.equal(existsSync(join(base, 'escape.txt')), false);
  });
});

describe('S3 storage driver: startup check and configuration', () => {
  let server: TestS3Server;
  before(async () => {
    server = await startS3Server('saas-config');
  });
  after(() => server.close());

  it('passes the startup check on a writable bucket and leaves no probe object', async () => {
    const driver = new S3StorageDriver(server.options('probe-test'));
    await driver.verifyAccess();
    // The probe lives under system/: nothing is left there.
    await driver.deletePrefix('system');
    await driver.put('system/x', Buffer.from('x'));
    await driver.deletePrefix('system');
    assert.equal(await driver.exists('system/x'), false);
  });

  it('stops startup with a message naming the bucket when it does not exist', async () => {
    const driver = new S3StorageDriver({ ...server.options(), bucket: 'no-such-bucket' });
    await assert.rejects(driver.verifyAccess(), (e: Error) => /s3:\/\/no-such-bucket at http:\/\/127\.0\.0\.1:\d+ is not reachable and writable: NoSuchBucket/.test(e.message));
  });

  it('stops startup with a message when nothing listens at the endpoint', async () => {
    const driver = new S3StorageDriver({ ...server.options(), endpoint: 'http://127.0.0.1:9' });
    await assert.rejects(driver.verifyAccess(), /is not reachable and writable/);
  });

  it('reads the S3 settings from the environment and names each bad one', () => {
    const problems: string[] = [];
    assert.deepEqual(parseStorageConfig({}, problems), { driver: 'local' });
    assert.deepEqual(parseStorageConfig({ STORAGE_DRIVER: 'local', S3_BUCKET: 'b-1' }, problems), { driver: 'local' });
    assert.deepEqual(problems, []);
    assert.deepEqual(parseStorageConfig({ S3_BUCKET: 'my-bucket', S3_ENDPOINT: 'http://127.0.0.1:9000', S3_PREFIX: '/saas/prod/', S3_ACCESS_KEY_ID: 'k', S3_SECRET_ACCESS_KEY: 's' }, problems), {
      driver: 's3',
      bucket: 'my-bucket',
      prefix: 'saas/prod',
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9000',
      forcePathStyle: true,
      credentials: { accessKeyId: 'k', secretAccessKey: 's' },
    });
    assert.equal((parseStorageConfig({ S3_BUCKET: 'aws-bucket', S3_REGION: 'eu-west-1' }, problems) as { forcePathStyle: boolean }).forcePathStyle, false);
    assert.deepEqual(problems, []);
    const bad: string[] = [];
    parseStorageConfig({ STORAGE_DRIVER: 'gcs' }, bad);
    parseStorageConfig({ STORAGE_DRIVER: 's3' }, bad);
    parseStorageConfig({ S3_BUCKET: 'Bad_Bucket', S3_ENDPOINT: 'ftp://x', S3_PREFIX: 'a/../b', S3_FORCE_PATH_STYLE: 'maybe', S3_ACCESS_KEY_ID: 'k' }, bad);
    assert.deepEqual(bad.map((p) => p.split(' ')[0]), ['STORAGE_DRIVER', 'STORAGE_DRIVER=s3', 'S3_BUCKET', 'S3_PREFIX', 'S3_ENDPOINT', 'S3_FORCE_PATH_STYLE', 'S3_ACCESS_KEY_ID']);
  });
});
