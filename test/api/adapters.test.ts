import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { AdapterRegistrar } from '../../src/adapters/adapter.registrar';
import { parseLoraAdapter, serializeLoraAdapter } from '../../src/engine';
import { parseSafetensors, serializeSafetensors } from '../../src/engine/io/safetensors';
import { bearer, createTenant, startTestApp, TestApp } from '../support/test-app';
import { buildSafetensors, peftLora } from '../support/safetensors';
import { binaryParser } from '../support/binary-parser';
import { relErr } from '../support/numerics';
import { tinyLora, writeTinyModel } from '../support/tiny-model';

const PEFT_MODULE = 'down_blocks.0.attentions.0.transformer_blocks.0.attn1';

/** A LoRA for the installed tiny model, written by the engine with the given file metadata. */
function tinyLoraFile(metadata: Record<string, string>, seed = 1): Buffer {
  const { adapter } = tinyLora(seed);
  adapter.metadata = metadata;
  return serializeLoraAdapter(adapter);
}

function scaled(data: Float32Array, factor: number): Float32Array {
  return data.map((v) => v * factor);
}

describe('adapters', () => {
  let t: TestApp;
  let key: string;
  let tenantId: string;
  let otherKey: string;

  before(async () => {
    t = await startTestApp({ limits: { adapterBytes: 64 * 1024 } });
    await writeTinyModel(t.modelsDir);
    ({ apiKey: key, id: tenantId } = await createTenant(t, 'A'));
    otherKey = (await createTenant(t, 'B')).apiKey;
  });
  after(() => t.close());

  const post = () => t.http().post('/v1/adapters').set(...bearer(key));
  const download = (id: string) => t.http().get(`/v1/adapters/${id}/weights`).set(...bearer(key)).buffer(true).parse(binaryParser);

  it('imports a LoRA written here, lists it, serves the same file and deletes it', async () => {
    const file = tinyLoraFile({ base_model: 'emoji-base' });
    const created = await post().field('name', 'acme-style').attach('file', file, 'acme.safetensors');
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.name, 'acme-style');
    assert.equal(created.body.source, 'import');
    assert.equal(created.body.format, 'peft');
    assert.equal(created.body.rank, 2);
    assert.equal(created.body.alpha, 2);
    assert.equal(created.body.tensorCount, parseSafetensors(file).tensors.size);
    assert.equal(created.body.bytes, file.length);
    assert.equal(created.body.baseModel, 'emoji-base');
    assert.equal(created.body.sha256, createHash('sha256').update(file).digest('hex'));
    assert.deepEqual([created.body.recommendedScale, created.body.stylePhrase], [1, null], 'nothing recorded: scale 1, no phrase');
    const id = created.body.id;

    const list = await t.http().get('/v1/adapters').set(...bearer(key));
    assert.deepEqual(list.body.data.map((a: { id: string }) => a.id), [id]);
    assert.deepEqual((await t.http().get(`/v1/adapters/${id}`).set(...bearer(key))).body, created.body);

    const weights = await download(id);
    assert.equal(weights.status, 200);
    assert.equal(weights.headers['content-type'], 'application/octet-stream');
    assert.match(weights.headers['content-disposition'], /attachment; filename="acme-style\.safetensors"/);
    assert.ok(Buffer.compare(weights.body as Buffer, file) === 0, 'a file this service wrote is served byte for byte');

    assert.equal((await t.http().delete(`/v1/adapters/${id}`).set(...bearer(key))).status, 204);
    assert.equal((await t.http().get(`/v1/adapters/${id}`).set(...bearer(key))).status, 404);
    assert.equal((await download(id)).status, 404);
  });

  it('takes the recommended scale and style phrase of an import from its metadata', async () => {
    const file = peftLora(2, { alpha: '2', recommended_scale: '0.75', style_phrase: 'Acme  Style' });
    const created = await post().field('name', 'with-usage').attach('file', file, 'u.safetensors');
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual([created.body.recommendedScale, created.body.stylePhrase], [0.75, 'acme style']);
    assert.deepEqual((await t.http().get(`/v1/adapters/${created.body.id}`).set(...bearer(key))).body, created.body);
    await t.http().delete(`/v1/adapters/${created.body.id}`).set(...bearer(key));
  });

  it('keeps adapters private to their tenant', async () => {
    const created = await post().field('name', 'private').attach('file', tinyLoraFile({}), 'p.safetensors');
    const id = created.body.id;
    assert.equal((await t.http().get(`/v1/adapters/${id}`).set(...bearer(otherKey))).status, 404);
    assert.equal((await t.http().get(`/v1/adapters/${id}/weights`).set(...bearer(otherKey))).status, 404);
    assert.equal((await t.http().delete(`/v1/adapters/${id}`).set(...bearer(otherKey))).status, 404);
    assert.deepEqual((await t.http().get('/v1/adapters').set(...bearer(otherKey))).body.data, []);
    assert.equal((await t.http().get(`/v1/adapters/${id}`).set(...bearer(key))).status, 200);
    await t.http().delete(`/v1/adapters/${id}`).set(...bearer(key));
  });

  it('refuses files that are not LoRA safetensors with 400', async () => {
    let res = await post().field('name', 'x').attach('file', Buffer.from('not a safetensors file'), 'x.safetensors');
    assert.equal(res.status, 400);
    assert.match(res.body.message, /^file is not a LoRA safetensors file: /);
    res = await post().field('name', 'full-model').attach('file', buildSafetensors({ 'unet.conv_in.weight': [4, 4, 3, 3] }), 'model.safetensors');
    assert.equal(res.status, 400);
    assert.match(res.body.message, /"unet\.conv_in\.weight" is not a LoRA tensor/);
    assert.deepEqual((await t.http().get('/v1/adapters').set(...bearer(key))).body.data.filter((a: { name: string }) => a.name === 'x' || a.name === 'full-model'), []);
  });

  it('names missing fields and enforces the size limit', async () => {
    let res = await post().attach('file', tinyLoraFile({}), 'a.safetensors');
    assert.equal(res.status, 400);
    assert.match(res.body.message, /name must be a string/);
    res = await post().field('name', 'no file');
    assert.equal(res.status, 400);
    assert.match(res.body.message, /file is required/);
    res = await post().field('name', 'big').attach('file', Buffer.alloc(70 * 1024), 'big.safetensors');
    assert.equal(res.status, 413);
  });

  it('refuses a base model the service does not serve, naming baseModel and the models it serves', async () => {
    let res = await post().field('name', 'sd15-style').field('baseModel', 'sd15').attach('file', tinyLoraFile({}), 'a.safetensors');
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.match(res.body.message, /^baseModel: "sd15" is not a base model this service serves \(served: emoji-base\)/);
    // A base model recorded in the file is checked the same way.
    res = await post().field('name', 'sd15-style').attach('file', tinyLoraFile({ base_model: 'sd15' }), 'a.safetensors');
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.match(res.body.message, /^baseModel: the file's base_model metadata names "sd15", which is not a base model this service serves \(served: emoji-base\)/);
    assert.deepEqual((await t.http().get('/v1/adapters').set(...bearer(key))).body.data.filter((a: { name: string }) => a.name === 'sd15-style'), []);
  });

  it('refuses an adapter that does not fit the base model it names', async () => {
    const res = await post().field('name', 'misfit').field('baseModel', 'emoji-base').attach('file', peftLora(4, { alpha: '4' }), 'a.safetensors');
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.match(res.body.message, /^file does not fit base model emoji-base: /);
  });

  it('names downloaded weights without stray underscores', async () => {
    for (const [name, filename] of [
      ['OpenMoji brand (dro e9c57522)', 'OpenMoji_brand_dro_e9c57522.safetensors'],
      ['Fox & Hound: v2.', 'Fox_Hound_v2.safetensors'],
      ['__ ünï __', 'n.safetensors'],
      ['✓✓', 'adapter.safetensors'],
    ]) {
      const created = await post().field('name', name).attach('file', tinyLoraFile({}), 'a.safetensors');
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const weights = await download(created.body.id);
      assert.equal(weights.headers['content-disposition'], `attachment; filename="${filename}"`, name);
      await t.http().delete(`/v1/adapters/${created.body.id}`).set(...bearer(key));
    }
  });

  it('refuses a peft file whose alpha it cannot know, naming adapterConfig', async () => {
    const res = await post().field('name', 'no-alpha').attach('file', peftLora(4), 'adapter_model.safetensors');
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.match(res.body.message, /^adapterConfig is required: /);
    assert.match(res.body.message, /adapter_config\.json/);
  });

  it('takes alpha from a peft adapter_config.json sent beside the weights and serves the weights with alpha folded into lora_B', async () => {
    const weights = peftLora(4);
    const config = { peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['to_q', 'to_k'], base_model_name_or_path: 'emoji-base' };
    const created = await post()
      .field('name', 'from-peft')
      .attach('file', weights, 'adapter_model.safetensors')
      .attach('adapterConfig', Buffer.from(JSON.stringify(config)), 'adapter_config.json');
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual([created.body.format, created.body.rank, created.body.alpha], ['peft', 4, 8]);

    const served = await download(created.body.id);
    assert.equal(served.body.length, created.body.bytes);
    assert.equal(createHash('sha256').update(served.body).digest('hex'), created.body.sha256);
    const original = parseSafetensors(weights).tensors;
    const file = parseSafetensors(served.body as Buffer);
    assert.equal(file.metadata.alpha, '4', 'alpha = rank: every loader applies scale 1');
    assert.equal(JSON.parse(file.metadata.lora_adapter_metadata)['unet.lora_alpha'], 4);
    for (const projection of ['to_q', 'to_k']) {
      const b = `unet.${PEFT_MODULE}.${projection}.lora_B.weight`;
      const a = `unet.${PEFT_MODULE}.${projection}.lora_A.weight`;
      assert.ok(relErr(file.tensors.get(b)!.data, scaled(original.get(b)!.data, 8 / 4)) < 1e-6, `${projection}: lora_B carries alpha/rank`);
      assert.deepEqual(file.tensors.get(a)!.data, original.get(a)!.data);
    }
    await t.http().delete(`/v1/adapters/${created.body.id}`).set(...bearer(key));
  });

  it('names adapterConfig when it is not a peft LoRA config', async () => {
    for (const [config, message] of [
      ['{"r": 4,', /^adapterConfig: .*not valid JSON/],
      ['{"peft_type": "LOHA", "r": 4}', /^adapterConfig: .*peft_type "LOHA" is not LORA/],
      ['{"r": 4, "lora_alpha": -1}', /^adapterConfig: .*lora_alpha -1 is not a positive number/],
    ] as const) {
      const res = await post().field('name', 'bad-config').attach('file', peftLora(4), 'a.safetensors').attach('adapterConfig', Buffer.from(config), 'adapter_config.json');
      assert.equal(res.status, 400, config);
      assert.match(res.body.message, message);
    }
  });

  it('imports kohya files with per-module alphas and serves them in diffusers/peft naming with alpha folded in', async () => {
    const kohya = `lora_unet_${PEFT_MODULE.replace(/\./g, '_')}_to_q`;
    const down = Float32Array.from({ length: 4 * 32 }, (_, i) => Math.sin(i));
    const up = Float32Array.from({ length: 32 * 4 }, (_, i) => Math.cos(i));
    const file = serializeSafetensors({
      [`${kohya}.lora_down.weight`]: { shape: [4, 32], data: down },
      [`${kohya}.lora_up.weight`]: { shape: [32, 4], data: up },
      [`${kohya}.alpha`]: { shape: [], data: Float32Array.of(2) },
    });
    const created = await post().field('name', 'from-kohya').attach('file', file, 'kohya.safetensors');
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual([created.body.format, created.body.rank, created.body.alpha, created.body.tensorCount], ['kohya', 4, 2, 2]);
    const served = parseSafetensors((await download(created.body.id)).body as Buffer);
    const module = `unet.${PEFT_MODULE}.to_q`;
    assert.deepEqual([...served.tensors.keys()].sort(), [`${module}.lora_A.weight`, `${module}.lora_B.weight`]);
    assert.deepEqual(served.tensors.get(`${module}.lora_A.weight`)!.data, down);
    assert.ok(relErr(served.tensors.get(`${module}.lora_B.weight`)!.data, scaled(up, 2 / 4)) < 1e-6);
    assert.equal(served.metadata.alpha, '4');
    await t.http().delete(`/v1/adapters/${created.body.id}`).set(...bearer(key));
  });

  it("registers a fine-tune's adapter once, from the rank and alpha the trainer holds, stored with alpha folded in", async () => {
    const { adapter } = tinyLora(7, 2);
    for (const layer of adapter.layers.values()) layer.alpha = 6;
    adapter.alpha = 6;
    const registrar = t.app.get(AdapterRegistrar);
    const fineTuneId = '0b8f6a52-3c1e-4c2a-9d55-7c0e3f1a2b4c';
    const registration = { tenantId, name: 'trained', source: 'fine-tune' as const, fineTuneId, baseModel: 'emoji-base', adapter, stylePhrase: 'acme style', recommendedScale: 0.5, storageKey: `tenants/${tenantId}/adapters/ft-${fineTuneId}.safetensors` };
    const first = await registrar.register(registration);
    const again = await registrar.register(registration);
    assert.equal(again.id, first.id, 'a re-run registers the same row');
    const row = (await t.http().get(`/v1/adapters/${first.id}`).set(...bearer(key))).body;
    assert.deepEqual([row.source, row.format, row.rank, row.alpha, row.stylePhrase, row.recommendedScale], ['fine-tune', 'peft', 2, 6, 'acme style', 0.5]);
    const served = (await download(first.id)).body as Buffer;
    assert.equal(createHash('sha256').update(served).digest('hex'), row.sha256);
    const back = parseLoraAdapter(served).adapter;
    for (const [m, layer] of adapter.layers) {
      const read = back.layers.get(m)!;
      assert.equal(read.alpha, read.rank);
      assert.ok(relErr(read.b, scaled(layer.b, 6 / 2)) < 1e-6, m);
    }
    await t.http().delete(`/v1/adapters/${first.id}`).set(...bearer(key));
  });
});
