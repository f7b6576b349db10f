import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { DataSource } from 'typeorm';
import { StoragePort } from '../../src/storage/storage.port';
import { gif, jpeg, png, webp } from '../support/images';
import { sql } from '../support/test-database';
import { bearer, createTenant, startTestApp, TestApp } from '../support/test-app';

describe('datasets', () => {
  let t: TestApp;
  let key: string;

  const newDataset = async (name = 'Mood board'): Promise<string> => {
    const res = await t.http().post('/v1/datasets').set(...bearer(key)).send({ name });
    assert.equal(res.status, 201);
    return res.body.id;
  };

  before(async () => {
    t = await startTestApp({ limits: { imageBytes: 200_000, imagePixels: 1_000_000, uploadRequestBytes: 1_500_000, uploadFiles: 12 } });
    key = (await createTenant(t)).apiKey;
  });
  after(() => t.close());

  it('creates, lists, gets and deletes a dataset', async () => {
    const created = await t.http().post('/v1/datasets').set(...bearer(key)).send({ name: 'Acme board' });
    assert.equal(created.status, 201);
    assert.equal(created.body.name, 'Acme board');
    assert.equal(created.body.imageCount, 0);
    assert.ok(!Number.isNaN(Date.parse(created.body.createdAt)));

    const list = await t.http().get('/v1/datasets').set(...bearer(key));
    assert.equal(list.status, 200);
    assert.ok(list.body.data.some((d: { id: string }) => d.id === created.body.id));

    const detail = await t.http().get(`/v1/datasets/${created.body.id}`).set(...bearer(key));
    assert.equal(detail.status, 200);
    assert.deepEqual(detail.body.images, []);
    assert.equal(detail.body.report.usableImages, 0);
    assert.equal(detail.body.report.readyForFineTune, false);
    assert.equal(detail.body.report.trainingResolution, null, 'no base model installed: no resolution to train at yet');

    assert.equal((await t.http().delete(`/v1/datasets/${created.body.id}`).set(...bearer(key))).status, 204);
    assert.equal((await t.http().get(`/v1/datasets/${created.body.id}`).set(...bearer(key))).status, 404);
    assert.equal((await t.http().delete(`/v1/datasets/${created.body.id}`).set(...bearer(key))).status, 404);
  });

  it('adds PNG, JPEG and WebP parts with captions in order and normalises a square training copy', async () => {
    const id = await newDataset();
    const res = await t
      .http()
      .post(`/v1/datasets/${id}/images`)
      .set(...bearer(key))
      .attach('images', await png(40, 30, { r: 255, g: 0, b: 0, alpha: 0 }, 1), 'clear.png')
      .attach('images', await jpeg(48, 48, undefined, 2), { filename: 'photo.jpg', contentType: 'image/jpeg' })
      .attach('images', await webp(64, 32, undefined, 3), 'wide.webp')
      .attach('images', await png(20, 20, undefined, 4), 'nocaption.png')
      .field('captions', JSON.stringify(['a transparent square', 'a green photo', null, '']));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.rejected, []);
    assert.deepEqual(
      res.body.added.map((a: { filename: string; caption: string; mimeType: string; width: number; height: number }) => [a.filename, a.caption, a.mimeType, a.width, a.height]),
      [
        ['clear.png', 'a transparent square', 'image/png', 40, 30],
        ['photo.jpg', 'a green photo', 'image/jpeg', 48, 48],
        ['wide.webp', '', 'image/webp', 64, 32],
        ['nocaption.png', '', 'image/png', 20, 20],
      ],
    );

    const detail = await t.http().get(`/v1/datasets/${id}`).set(...bearer(key));
    assert.equal(detail.body.imageCount, 4);
    assert.deepEqual(detail.body.images.map((i: { filename: string }) => i.filename), ['clear.png', 'photo.jpg', 'wide.webp', 'nocaption.png']);
    assert.deepEqual(detail.body.report.captions, { captioned: 2, uncaptioned: 2, meanWords: 3, maxWords: 3 });
    assert.equal(detail.body.report.readyForFineTune, true);
    assert.equal(detail.body.report.usableImages, 4);
    assert.ok(detail.body.report.notes.some((n: string) => /2 image\(s\) have no caption/.test(n)));

    // Without a base model to size it for, the training copy keeps the image's side: a 40×40 RGB PNG
    // with the transparent pixels flattened onto white.
    const row = (await sql(t.app.get(DataSource), 'SELECT training_key, original_key FROM dataset_images WHERE filename = ?', ['clear.png']))[0];
    const storage = t.app.get(StoragePort);
    const training = await storage.get(row.training_key);
    const meta = await sharp(training).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height, meta.channels, meta.hasAlpha], ['png', 40, 40, 3, false]);
    const { data } = await sharp(training).raw().toBuffer({ resolveWithObject: true });
    const centre = (20 * 40 + 20) * 3;
    assert.deepEqual([...data.subarray(centre, centre + 3)], [255, 255, 255]);
    assert.ok(row.original_key.endsWith('/original.png'));
    assert.equal((await storage.get(row.original_key)).length > 0, true);
  });

  it('rejects bad files one by one with a reason', async () => {
    const id = await newDataset();
    const good = await png(32, 32, undefined, 10);
    const truncated = (await png(32, 32, undefined, 11)).subarray(0, 60);
    const big = await png(1200, 1000, undefined, 12);
    const heavy = Buffer.concat([await png(32, 32, undefined, 13), Buffer.alloc(250_000)]);
    const res = await t
      .http()
      .post(`/v1/datasets/${id}/images`)
      .set(...bearer(key))
      .attach('images', good, 'good.png')
      .attach('images', truncated, 'truncated.png')
      .attach('images', Buffer.from('just some text'), 'notes.png')
      .attach('images', Buffer.from('plain text'), 'readme.txt')
      .attach('images', await gif(), 'anim.gif')
      .attach('images', await png(8, 40, undefined, 14), 'thin.png')
      .attach('images', big, 'huge.png')
      .attach('images', heavy, 'heavy.png')
      .attach('images', good, 'good-again.png')
      .attach('images', await sharp(good).png({ compressionLevel: 0 }).withMetadata().toBuffer(), 'reencoded.png');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.added.map((a: { filename: string }) => a.filename), ['good.png']);
    assert.deepEqual(
      res.body.rejected.map((r: { filename: string; reason: string }) => [r.filename, r.reason]),
      [
        ['truncated.png', 'corrupt'],
        ['notes.png', 'corrupt'],
        ['readme.txt', 'unsupported_type'],
        ['anim.gif', 'unsupported_type'],
        ['thin.png', 'too_small'],
        ['huge.png', 'too_large'],
        ['heavy.png', 'too_large'],
        ['good-again.png', 'duplicate'],
        ['reencoded.png', 'duplicate'],
      ],
    );
    for (const r of res.body.rejected) assert.equal(typeof r.detail, 'string');

    // A later upload of the same picture is a duplicate too; rejections are counted in the report.
    const again = await t.http().post(`/v1/datasets/${id}/images`).set(...bearer(key)).attach('images', good, 'third.png');
    assert.deepEqual(again.body.rejected.map((r: { reason: string }) => r.reason), ['duplicate']);
    const detail = await t.http().get(`/v1/datasets/${id}`).set(...bearer(key));
    assert.equal(detail.body.report.usableImages, 1);
    assert.equal(detail.body.report.rejectedFiles, 10);
    assert.equal(detail.body.report.readyForFineTune, false);
  });

  it('validates the captions field', async () => {
    const id = await newDataset();
    const image = await png(32, 32, undefined, 20);
    const send = (captions: string) =>
      t.http().post(`/v1/datasets/${id}/images`).set(...bearer(key)).attach('images', image, 'a.png').field('captions', captions);
    let res = await send('not json');
    assert.equal(res.status, 400);
    assert.match(res.body.message, /captions must be a JSON array of strings/);
    res = await send('[1, 2]');
    assert.equal(res.status, 400);
    res = await send('["one", "two"]');
    assert.equal(res.status, 400);
    assert.match(res.body.message, /^captions has 2 entries but 1 image was sent: one entry per image/);
    res = await t
      .http()
      .post(`/v1/datasets/${id}/images`)
      .set(...bearer(key))
      .attach('images', image, 'a.png')
      .field('captions', '["a"]')
      .field('captions', '["b"]');
    assert.equal(res.status, 400);
    assert.match(res.body.message, /captions must be a string/);
    res = await t.http().post(`/v1/datasets/${id}/images`).set(...bearer(key)).attach('images', image, 'a.png').field('colour', 'red');
    assert.equal(res.status, 400);
    assert.match(res.body.message, /property colour should not exist/);
    // Nothing was added by the refused requests.
    assert.equal((await t.http().get(`/v1/datasets/${id}`).set(...bearer(key))).body.imageCount, 0);
  });

  it('refuses captions that do not match the images one to one, adding nothing', async () => {
    const id = await newDataset();
    const [a, b] = [await png(32, 32, undefined, 40), await png(32, 32, undefined, 41)];
    const two = () => t.http().post(`/v1/datasets/${id}/images`).set(...bearer(key)).attach('images', a, 'a.png').attach('images', b, 'b.png');
    for (const [captions, message] of [
      ['["only one"]', /^captions has 1 entry but 2 images were sent: one entry per image \(null for none\)$/],
      ['[]', /^captions has 0 entries but 2 images were sent/],
      ['["a", "b", "c"]', /^captions has 3 entries but 2 images were sent/],
    ] as const) {
      const res = await two().field('captions', captions);
      assert.equal(res.status, 400, `${captions} → ${res.status} ${JSON.stringify(res.body)}`);
      assert.match(res.body.message, message);
    }
    assert.equal((await t.http().get(`/v1/datasets/${id}`).set(...bearer(key))).body.imageCount, 0);
    // One entry per image, null for none, is accepted.
    const matched = await two().field('captions', '["only one", null]');
    assert.equal(matched.status, 200, JSON.stringify(matched.body));
    assert.deepEqual(matched.body.added.map((a: { caption: string }) => a.caption), ['only one', '']);
  });

  it('refuses requests without files or with unknown file fields', async () => {
    const id = await newDataset();
    let res = await t.http().post(`/v1/datasets/${id}/images`).set(...bearer(key)).field('captions', '[]');
    assert.equal(res.status, 400);
    assert.match(res.body.message, /images is required/);
    res = await t.http().post(`/v1/datasets/${id}/images`).set(...bearer(key)).attach('photos', await png(), 'a.png');
    assert.equal(res.status, 400);
    assert.match(res.body.message, /Unexpected file field "photos"/);
  });

  it('answers oversized requests with 413', async () => {
    const id = await newDataset();
    let res = await t.http().post(`/v1/datasets/${id}/images`).set(...bearer(key)).attach('images', Buffer.alloc(1_600_000, 1), 'big.png');
    assert.equal(res.status, 413);
    assert.match(res.body.message, /per request/);

    let req = t.http().post(`/v1/datasets/${id}/images`).set(...bearer(key));
    for (let i = 0; i < 13; i++) req = req.attach('images', Buffer.from([i]), `${i}.png`);
    res = await req;
    assert.equal(res.status, 413);
    assert.match(res.body.message, /Too many files: at most 12/);
    assert.equal((await t.http().get(`/v1/datasets/${id}`).set(...bearer(key))).body.imageCount, 0);
  });

  it('deletes the stored files with the dataset', async () => {
    const id = await newDataset();
    await t.http().post(`/v1/datasets/${id}/images`).set(...bearer(key)).attach('images', await png(32, 32, undefined, 30), 'a.png');
    const rows = await sql(t.app.get(DataSource), 'SELECT original_key, training_key FROM dataset_images WHERE dataset_id = ?', [id]);
    assert.equal(rows.length, 1);
    const storage = t.app.get(StoragePort);
    assert.equal(await storage.exists(rows[0].training_key), true);
    assert.equal((await t.http().delete(`/v1/datasets/${id}`).set(...bearer(key))).status, 204);
    assert.equal(await storage.exists(rows[0].training_key), false);
    assert.equal(await storage.exists(rows[0].original_key), false);
    assert.equal(existsSync(join(t.dataDir, 'objects', 'tenants')), true);
    assert.deepEqual(await sql(t.app.get(DataSource), 'SELECT id FROM dataset_images WHERE dataset_id = ?', [id]), []);
  });

  it('refuses to delete a dataset a queued fine-tune still needs', async () => {
    const id = await newDataset();
    const ds = t.app.get(DataSource);
    const [{ tenant_id: tenantId }] = await sql(ds, 'SELECT tenant_id FROM datasets WHERE id = ?', [id]);
    await sql(
      ds,
      `INSERT INTO fine_tunes (id, tenant_id, dataset_id, base_model, method, status, hyperparameters) VALUES (?, ?, ?, 'base', 'dro', 'queued', '{}')`,
      ['11111111-2222-4333-8444-555555555555', tenantId, id],
    );
    const res = await t.http().delete(`/v1/datasets/${id}`).set(...bearer(key));
    assert.equal(res.status, 409);
    assert.match(res.body.message, /fine-tune/);
    await sql(ds, `UPDATE fine_tunes SET status = 'succeeded' WHERE id = ?`, ['11111111-2222-4333-8444-555555555555']);
    assert.equal((await t.http().delete(`/v1/datasets/${id}`).set(...bearer(key))).status, 204);
    const [job] = await sql(ds, 'SELECT dataset_id FROM fine_tunes WHERE id = ?', ['11111111-2222-4333-8444-555555555555']);
    assert.equal(job.dataset_id, null);
  });
});
