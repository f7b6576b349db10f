import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isUnsafeEntryName } from '../../src/datasets/zip-archive';
import { png } from '../support/images';
import { bearer, createTenant, startTestApp, TestApp } from '../support/test-app';
import { buildZip } from '../support/zip-writer';

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(entry.parentPath ?? dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(path));
    else out.push(path);
  }
  return out;
}

describe('dataset zip uploads', () => {
  let t: TestApp;
  let key: string;

  const newDataset = async (): Promise<string> => (await t.http().post('/v1/datasets').set(...bearer(key)).send({ name: 'zip' })).body.id;
  const upload = (id: string, zip: Buffer, field = 'archive', filename = 'board.zip') =>
    t.http().post(`/v1/datasets/${id}/images`).set(...bearer(key)).attach(field, zip, { filename, contentType: 'application/zip' });

  before(async () => {
    t = await startTestApp({ limits: { imageBytes: 100_000, zipEntries: 20, zipUncompressedBytes: 400_000 } });
    key = (await createTenant(t)).apiKey;
  });
  after(() => t.close());

  it('adds images with their .txt sidecar captions and skips archive clutter', async () => {
    const id = await newDataset();
    const zip = buildZip([
      { name: 'board/', mode: 0o040755 },
      { name: 'board/fox.png', data: await png(32, 32, undefined, 1), deflate: true },
      { name: 'board/fox.txt', data: Buffer.from('\uFEFFa red fox, flat pastel colours \n') },
      { name: 'board/hills.png', data: await png(40, 24, undefined, 2) },
      { name: 'sun.png', data: await png(24, 24, undefined, 3), deflate: true },
      { name: 'sun.txt', data: Buffer.from('a low sun') },
      { name: 'orphan.txt', data: Buffer.from('caption without image') },
      { name: '__MACOSX/board/._fox.png', data: Buffer.from('resource fork') },
      { name: 'board/.DS_Store', data: Buffer.from('finder') },
      { name: 'notes.md', data: Buffer.from('# readme') },
    ]);
    const res = await upload(id, zip);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(
      res.body.added.map((a: { filename: string; caption: string }) => [a.filename, a.caption]),
      [
        ['board/fox.png', 'a red fox, flat pastel colours'],
        ['board/hills.png', ''],
        ['sun.png', 'a low sun'],
      ],
    );
    assert.deepEqual(res.body.rejected.map((r: { filename: string; reason: string }) => [r.filename, r.reason]), [['notes.md', 'unsupported_type']]);
  });

  it('accepts a single zip in the images field too', async () => {
    const id = await newDataset();
    const res = await upload(id, buildZip([{ name: 'a.png', data: await png(32, 32, undefined, 4) }]), 'images');
    assert.equal(res.status, 200);
    assert.equal(res.body.added.length, 1);
  });

  it('never lets an entry leave the data folder', async () => {
    const id = await newDataset();
    const image = await png(32, 32, undefined, 5);
    const zip = buildZip([
      { name: '../../escaped.png', data: image },
      { name: 'a/../../../escaped2.png', data: image },
      { name: '/tmp/absolute.png', data: image },
      { name: 'C:\\windows\\drive.png', data: image },
      { name: '..\\..\\backslash.png', data: image },
      { name: 'link.png', data: Buffer.from('/etc/passwd'), mode: 0o120777 },
      { name: 'fine.png', data: await png(32, 32, undefined, 6) },
    ]);
    const res = await upload(id, zip);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.added.map((a: { filename: string }) => a.filename), ['fine.png']);
    assert.deepEqual(
      res.body.rejected.map((r: { filename: string; reason: string }) => [r.filename, r.reason]),
      [
        ['../../escaped.png', 'unsafe_path'],
        ['a/../../../escaped2.png', 'unsafe_path'],
        ['/tmp/absolute.png', 'unsafe_path'],
        ['C:\\windows\\drive.png', 'unsafe_path'],
        ['..\\..\\backslash.png', 'unsafe_path'],
        ['link.png', 'unsupported_type'],
      ],
    );
    // Every stored file sits under DATA_DIR/objects, named by ids, never by entry names.
    const files = walk(dirname(t.dataDir));
    assert.ok(files.every((f) => !/escaped|absolute|drive|backslash|link/.test(f)), files.join('\n'));
    assert.ok(files.filter((f) => f.includes('/objects/')).every((f) => /\/(original\.png|train-\d+\.png)$/.test(f)));
  });

  it('checks unit rules for unsafe names', () => {
    for (const name of ['../x', 'a/../../x', '/x', '\\x', 'C:x', 'c:/x', 'a\\..\\x', 'a\u0000b']) assert.equal(isUnsafeEntryName(name), true, name);
    for (const name of ['x.png', 'a/b/c.png', 'a..b.png', '..hidden.png', 'a/...png']) assert.equal(isUnsafeEntryName(name), false, name);
  });

  it('answers zip bombs and oversized archives with 413', async () => {
    const id = await newDataset();
    // Honest headers: five 90 kB entries expand past the 400 kB archive limit.
    const zeros = Buffer.alloc(90_000);
    let res = await upload(id, buildZip([0, 1, 2, 3, 4].map((i) => ({ name: `z${i}.png`, data: zeros, deflate: true }))));
    assert.equal(res.status, 413);
    assert.match(res.body.message, /expands to 450000 bytes/);

    // Too many entries.
    res = await upload(id, buildZip(Array.from({ length: 21 }, (_, i) => ({ name: `e${i}.txt`, data: Buffer.from('x') }))));
    assert.equal(res.status, 413);
    assert.match(res.body.message, /21 entries; the limit is 20/);
    assert.equal((await t.http().get(`/v1/datasets/${id}`).set(...bearer(key))).body.imageCount, 0);
  });

  it('rejects single oversized or lying entries without inflating them past their limit', async () => {
    const id = await newDataset();
    const zip = buildZip([
      // Declares 150 kB: over the 100 kB image limit, rejected from the header alone.
      { name: 'big.png', data: Buffer.alloc(150_000), deflate: true },
      // Declares 10 bytes but inflates to 80 kB: yauzl stops at the declared size.
      { name: 'liar.png', data: Buffer.alloc(80_000), deflate: true, declaredSize: 10 },
    ]);
    const res = await upload(id, zip);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(
      res.body.rejected.map((r: { filename: string; reason: string }) => [r.filename, r.reason]),
      [
        ['big.png', 'too_large'],
        ['liar.png', 'corrupt'],
      ],
    );
    assert.match(res.body.rejected[0].detail, /150000 bytes/);
    assert.match(res.body.rejected[1].detail, /cannot inflate/);
  });

  it('answers a broken archive with 400 and refuses mixing archives with other parts', async () => {
    const id = await newDataset();
    let res = await upload(id, Buffer.concat([Buffer.from('PK\u0003\u0004'), Buffer.alloc(100, 0x41)]));
    assert.equal(res.status, 400);
    assert.match(res.body.message, /not a valid zip/);

    const zip = buildZip([{ name: 'a.png', data: await png(32, 32, undefined, 7) }]);
    res = await t
      .http()
      .post(`/v1/datasets/${id}/images`)
      .set(...bearer(key))
      .attach('archive', zip, 'a.zip')
      .attach('images', await png(32, 32, undefined, 8), 'b.png');
    assert.equal(res.status, 400);
    assert.match(res.body.message, /archive must be sent alone/);

    res = await t.http().post(`/v1/datasets/${id}/images`).set(...bearer(key)).attach('archive', zip, 'a.zip').field('captions', '["x"]');
    assert.equal(res.status, 400);
    assert.match(res.body.message, /captions cannot be combined with an archive/);
  });
});
