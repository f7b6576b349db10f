import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { DataSource } from 'typeorm';
import { StoragePort } from '../../src/storage/storage.port';
import { sql } from '../support/test-database';
import { tinyLora, writeTinyModel } from '../support/tiny-model';
import { bearer, createTenant, startTestApp, TestApp } from '../support/test-app';

describe('feedback and the next round', () => {
  let modelsDir: string;
  let t: TestApp;
  let key: string;
  let otherKey: string;
  let adapterId: string;
  let datasetId: string;
  let plain: { id: string; prompt: string };
  let styled: { id: string; prompt: string };

  const feedback = (apiKey: string, generationId: string, body: unknown) =>
    t.http().post(`/v1/generations/${generationId}/feedback`).set(...bearer(apiKey)).send(body as object);
  const fromFeedback = (apiKey: string, id: string, body: unknown = {}) =>
    t.http().post(`/v1/datasets/${id}/images/from-feedback`).set(...bearer(apiKey)).send(body as object);

  before(async () => {
    modelsDir = mkdtempSync(join(tmpdir(), 'saas-fb-models-'));
    await writeTinyModel(modelsDir);
    t = await startTestApp({ modelsDir });
    key = (await createTenant(t, 'A')).apiKey;
    otherKey = (await createTenant(t, 'B')).apiKey;
    adapterId = (await t.http().post('/v1/adapters').set(...bearer(key)).field('name', 'style').attach('file', tinyLora(4).file, 's.safetensors')).body.id;
    datasetId = (await t.http().post('/v1/datasets').set(...bearer(key)).send({ name: 'Round 2' })).body.id;
    const a = await t.http().post('/v1/generations').set(...bearer(key)).send({ prompt: 'red heart', seed: 1, steps: 3, numImages: 3 });
    const b = await t.http().post('/v1/generations').set(...bearer(key)).send({ prompt: 'cat face', seed: 2, steps: 3, numImages: 2, adapters: [{ id: adapterId }] });
    plain = a.body;
    styled = b.body;
  });
  after(async () => {
    await t.close();
    rmSync(modelsDir, { recursive: true, force: true });
  });

  it('records and lists signals, validating them', async () => {
    const res = await feedback(key, plain.id, { imageIndex: 0, signal: 'liked' });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.deepEqual([res.body.generationId, res.body.imageIndex, res.body.signal, res.body.consumedAt], [plain.id, 0, 'liked', null]);
    const cases: [unknown, RegExp][] = [
      [{ imageIndex: 0 }, /signal must be one of: selected, downloaded, liked, discarded/],
      [{ imageIndex: 0, signal: 'loved' }, /signal must be one of/],
      [{ imageIndex: -1, signal: 'liked' }, /imageIndex must not be less than 0/],
      [{ imageIndex: 1.5, signal: 'liked' }, /imageIndex must be an integer/],
      [{ imageIndex: 3, signal: 'liked' }, /imageIndex must be less than 3: the generation has 3 image/],
      [{ imageIndex: 0, signal: 'liked', weight: 2 }, /property weight should not exist/],
    ];
    for (const [body, message] of cases) {
      const bad = await feedback(key, plain.id, body);
      assert.equal(bad.status, 400, JSON.stringify(body));
      assert.match(bad.body.message, message);
    }
    const list = await t.http().get(`/v1/generations/${plain.id}/feedback`).set(...bearer(key));
    assert.deepEqual(list.body.data.map((f: { signal: string }) => f.signal), ['liked']);
  });

  it('hides generations and datasets of other tenants (404)', async () => {
    assert.equal((await feedback(otherKey, plain.id, { imageIndex: 0, signal: 'liked' })).status, 404);
    assert.equal((await t.http().get(`/v1/generations/${plain.id}/feedback`).set(...bearer(otherKey))).status, 404);
    assert.equal((await feedback(key, randomUUID(), { imageIndex: 0, signal: 'liked' })).status, 404);
    assert.equal((await fromFeedback(otherKey, datasetId)).status, 404);
    assert.equal((await fromFeedback(key, 'not-a-uuid')).status, 400);
  });

  it('adds kept images (not discarded later) with their prompt as caption, each once', async () => {
    // plain#0 liked (above); plain#1 liked then discarded; plain#2 discarded then selected; styled#1 downloaded.
    for (const [generation, imageIndex, signal] of [
      [plain, 1, 'liked'],
      [plain, 1, 'discarded'],
      [plain, 2, 'discarded'],
      [plain, 2, 'selected'],
      [styled, 1, 'downloaded'],
      [styled, 1, 'liked'],
    ] as const) {
      assert.equal((await feedback(key, generation.id, { imageIndex, signal })).status, 201);
    }
    const bad = await fromFeedback(key, datasetId, { since: 'yesterday' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /since must be an ISO 8601 date-time/);

    const onlyStyled = await fromFeedback(key, datasetId, { adapterId });
    assert.equal(onlyStyled.status, 200, JSON.stringify(onlyStyled.body));
    assert.deepEqual(onlyStyled.body.added.map((i: { filename: string; caption: string; source: string }) => [i.filename, i.caption, i.source]), [
      [`generation-${styled.id}-1.png`, 'cat face', 'feedback'],
    ]);

    const all = await fromFeedback(key, datasetId);
    assert.deepEqual(all.body.added.map((i: { filename: string }) => i.filename).sort(), [`generation-${plain.id}-0.png`, `generation-${plain.id}-2.png`].sort());
    assert.deepEqual(all.body.rejected.map((r: { filename: string; reason: string }) => [r.filename, r.reason]), [[`generation-${styled.id}-1.png`, 'duplicate']]);
    const detail = (await t.http().get(`/v1/datasets/${datasetId}`).set(...bearer(key))).body;
    assert.equal(detail.imageCount, 3);
    assert.equal(detail.report.readyForFineTune, false, 'three kept images: one short of a round');
    const listed = (await t.http().get(`/v1/generations/${plain.id}/feedback`).set(...bearer(key))).body.data;
    assert.ok(listed.find((f: { imageIndex: number; signal: string }) => f.imageIndex === 0 && f.signal === 'liked').consumedAt);
    assert.equal(listed.find((f: { imageIndex: number; signal: string }) => f.imageIndex === 1 && f.signal === 'liked').consumedAt, null);

    // The dry run speaks of the resolution GET /v1/models reports, and the kept images (generated at
    // it) are stored at it as they are: nothing called small, nothing resampled.
    const resolution = (await t.http().get('/v1/models/emoji-base').set(...bearer(key))).body.resolution;
    assert.equal(typeof resolution, 'number');
    assert.equal(detail.report.trainingResolution, resolution);
    assert.deepEqual(detail.report.notes.filter((n: string) => /smaller than/.test(n)), []);
    const storage = t.app.get(StoragePort);
    for (const row of await sql(t.app.get(DataSource), 'SELECT training_key FROM dataset_images WHERE dataset_id = ?', [datasetId])) {
      const meta = await sharp(await storage.get(row.training_key)).metadata();
      assert.deepEqual([meta.width, meta.height], [resolution, resolution]);
    }

    const later = await fromFeedback(key, datasetId, { since: new Date(Date.now() + 60_000).toISOString() });
    assert.deepEqual([later.body.added, later.body.rejected], [[], []]);

    // One more kept image makes the dataset ready for the next round, continuing the adapter.
    assert.equal((await feedback(key, styled.id, { imageIndex: 0, signal: 'selected' })).status, 201);
    assert.equal((await fromFeedback(key, datasetId)).body.added.length, 1);
    const round = await t.http().post('/v1/fine-tunes').set(...bearer(key)).send({ datasetId, method: 'dro', initAdapterId: adapterId });
    assert.equal(round.status, 201, JSON.stringify(round.body));
    assert.equal(round.body.initAdapterId, adapterId);
  });

  it('answers 404 for an adapterId that is not one of yours, as fine-tunes do for initAdapterId', async () => {
    const theirs = (await t.http().post('/v1/adapters').set(...bearer(otherKey)).field('name', 'theirs').attach('file', tinyLora(6).file, 't.safetensors')).body.id;
    const imagesBefore = (await t.http().get(`/v1/datasets/${datasetId}`).set(...bearer(key))).body.imageCount;
    for (const id of [theirs, randomUUID()]) {
      const res = await fromFeedback(key, datasetId, { adapterId: id });
      assert.equal(res.status, 404, JSON.stringify(res.body));
      assert.equal(res.body.message, `adapterId ${id} does not name one of your adapters`);
      const round = await t.http().post('/v1/fine-tunes').set(...bearer(key)).send({ datasetId, method: 'dro', initAdapterId: id });
      assert.equal(round.status, 404);
      assert.equal(round.body.message, `initAdapterId ${id} does not name one of your adapters`);
    }
    assert.equal((await t.http().get(`/v1/datasets/${datasetId}`).set(...bearer(key))).body.imageCount, imagesBefore);
  });
});
