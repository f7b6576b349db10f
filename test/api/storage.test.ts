import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { LocalStorageDriver } from '../../src/storage/local-storage.driver';
import { InvalidStorageKeyError, StorageNotFoundError } from '../../src/storage/storage.port';

describe('local storage driver', () => {
  let base: string;
  let root: string;
  let storage: LocalStorageDriver;

  before(() => {
    base = mkdtempSync(join(tmpdir(), 'saas-storage-'));
    root = join(base, 'objects');
    storage = new LocalStorageDriver(root);
  });

  after(() => rmSync(base, { recursive: true, force: true }));

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

  it('writes atomically: no temp files are left behind', async () => {
    await storage.put('tenants/t2/x/y.png', Buffer.alloc(1000, 7));
    assert.deepEqual(readdirSync(join(root, 'tenants', 't2', 'x')), ['y.png']);
  });

  it('reports missing objects as StorageNotFoundError', async () => {
    await assert.rejects(storage.get('tenants/none/x'), StorageNotFoundError);
    await assert.rejects(storage.stream('tenants/none/x'), StorageNotFoundError);
  });

  it('deletes everything under a prefix', async () => {
    await storage.put('tenants/t3/d/1.png', Buffer.from('1'));
    await storage.put('tenants/t3/d/sub/2.png', Buffer.from('2'));
    await storage.put('tenants/t3/keep.png', Buffer.from('3'));
    await storage.deletePrefix('tenants/t3/d');
    assert.equal(await storage.exists('tenants/t3/d/1.png'), false);
    assert.equal(await storage.exists('tenants/t3/d/sub/2.png'), false);
    assert.equal(await storage.exists('tenants/t3/keep.png'), true);
  });

  it('refuses keys that could leave the root', async () => {
    for (const key of ['../escape.txt', 'a/../../escape.txt', '/etc/passwd', 'a//b', 'a/./b', 'a\\..\\b', '', '.hidden', 'a/b/..', 'a/\u0000b']) {
      await assert.rejects(storage.put(key, Buffer.from('x')), InvalidStorageKeyError, `key ${JSON.stringify(key)}`);
      await assert.rejects(storage.get(key), InvalidStorageKeyError, `key ${JSON.stringify(key)}`);
      await assert.rejects(storage.deletePrefix(key), InvalidStorageKeyError, `key ${JSON.stringify(key)}`);
    }
    assert.equal(existsSync(join(base, 'escape.txt')), false);
  });
});
