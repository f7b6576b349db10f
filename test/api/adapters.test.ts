import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { bearer, createTenant, startTestApp, TestApp } from '../support/test-app';
import { buildSafetensors, peftLora } from '../support/safetensors';
import { binaryParser } from '../support/binary-parser';

describe('adapters', () => {
  let t: TestApp;
  let key: string;
  let otherKey: string;

  before(async () => {
    t = await startTestApp({ limits: { adapterBytes: 64 * 1024 } });
    key = (await createTenant(t, 'A')).apiKey;
    otherKey = (await createTenant(t, 'B')).apiKey;
  });
  after(() => t.close());

  it('imports a LoRA, lists it, serves its weights and deletes it', async () => {
    const file = peftLora(4, { rank: '4', lora_alpha: '4', base_model: 'emoji-base' });
    const created = await t
      .http()
      .post('/v1/adapters')
      .set(...bearer(key))
      .field('name', 'acme-style')
      .attach('file', file, 'acme.safetensors');
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.name, 'acme-style');
    assert.equal(created.body.source, 'import');
    assert.equal(created.body.format, 'peft');
    assert.equal(created.body.rank, 4);
    assert.equal(created.body.alpha, 4);
    assert.equal(created.body.tensorCount, 4);
    assert.equal(created.body.bytes, file.length);
    assert.equal(created.body.baseModel, 'emoji-base');
    assert.equal(created.body.sha256, createHash('sha256').update(file).digest('hex'));
    assert.deepEqual([created.body.recommendedScale, created.body.stylePhrase], [1, null], 'nothing recorded: scale 1, no phrase');
    const id = created.body.id;

    const list = await t.http().get('/v1/adapters').set(...bearer(key));
    assert.deepEqual(list.body.data.map((a: { id: string }) => a.id), [id]);
    assert.deepEqual((await t.http().get(`/v1/adapters/${id}`).set(...bearer(key))).body, created.body);

    const weights = await t.http().get(`/v1/adapters/${id}/weights`).set(...bearer(key)).buffer(true).parse(binaryParser);
    assert.equal(weights.status, 200);
    assert.equal(weights.headers['content-type'], 'application/octet-stream');
    assert.match(weights.headers['content-disposition'], /attachment; filename="acme-style\.safetensors"/);
    assert.ok(Buffer.compare(weights.body as Buffer, file) === 0);

    assert.equal((await t.http().delete(`/v1/adapters/${id}`).set(...bearer(key))).status, 204);
    assert.equal((await t.http().get(`/v1/adapters/${id}`).set(...bearer(key))).status, 404);
    assert.equal((await t.http().get(`/v1/adapters/${id}/weights`).set(...bearer(key))).status, 404);
  });

  it('takes the recommended scale and style phrase of an import from its metadata', async () => {
    const file = peftLora(2, { recommended_scale: '0.75', style_phrase: 'Acme  Style' });
    const created = await t.http().post('/v1/adapters').set(...bearer(key)).field('name', 'with-usage').attach('file', file, 'u.safetensors');
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual([created.body.recommendedScale, created.body.stylePhrase], [0.75, 'acme style']);
    assert.deepEqual((await t.http().get(`/v1/adapters/${created.body.id}`).set(...bearer(key))).body, created.body);
    await t.http().delete(`/v1/adapters/${created.body.id}`).set(...bearer(key));
  });

  it('keeps adapters private to their tenant', async () => {
    const created = await t.http().post('/v1/adapters').set(...bearer(key)).field('name', 'private').attach('file', peftLora(), 'p.safetensors');
    const id = created.body.id;
    assert.equal((await t.http().get(`/v1/adapters/${id}`).set(...bearer(otherKey))).status, 404);
    assert.equal((await t.http().get(`/v1/adapters/${id}/weights`).set(...bearer(otherKey))).status, 404);
    assert.equal((await t.http().delete(`/v1/adapters/${id}`).set(...bearer(otherKey))).status, 404);
    assert.deepEqual((await t.http().get('/v1/adapters').set(...bearer(otherKey))).body.data, []);
    assert.equal((await t.http().get(`/v1/adapters/${id}`).set(...bearer(key))).status, 200);
  });

  it('refuses files that are not LoRA safetensors with 400', async () => {
    let res = await t.http().post('/v1/adapters').set(...bearer(key)).field('name', 'x').attach('file', Buffer.from('not a safetensors file'), 'x.safetensors');
    assert.equal(res.status, 400);
    assert.match(res.body.message, /^file is not a LoRA safetensors file: /);
    res = await t
      .http()
      .post('/v1/adapters')
      .set(...bearer(key))
      .field('name', 'full-model')
      .attach('file', buildSafetensors({ 'unet.conv_in.weight': [4, 4, 3, 3] }), 'model.safetensors');
    assert.equal(res.status, 400);
    assert.match(res.body.message, /not a LoRA weight/);
    assert.deepEqual((await t.http().get('/v1/adapters').set(...bearer(key))).body.data.filter((a: { name: string }) => a.name === 'x' || a.name === 'full-model'), []);
  });

  it('names missing fields and enforces the size limit', async () => {
    let res = await t.http().post('/v1/adapters').set(...bearer(key)).attach('file', peftLora(), 'a.safetensors');
    assert.equal(res.status, 400);
    assert.match(res.body.message, /name must be a string/);
    res = await t.http().post('/v1/adapters').set(...bearer(key)).field('name', 'no file');
    assert.equal(res.status, 400);
    assert.match(res.body.message, /file is required/);
    res = await t.http().post('/v1/adapters').set(...bearer(key)).field('name', 'big').attach('file', Buffer.alloc(70 * 1024), 'big.safetensors');
    assert.equal(res.status, 413);
  });
});
