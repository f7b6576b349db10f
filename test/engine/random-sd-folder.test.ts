import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loadDiffusionModel, stableDiffusion15Configs, writeRandomSdFolder } from '../../src/engine';
import { readSafetensorsFile, readSafetensorsHeader } from '../../src/engine/io/safetensors';
import { readModelIndex } from '../../src/engine/io/model-folder';
import { autoencoderKlParamShapes } from '../../src/engine/models/autoencoder-kl-params';
import { parseAutoencoderKlConfig } from '../../src/engine/models/autoencoder-kl.model';
import { clipTextParamShapes, parseClipTextConfig } from '../../src/engine/models/clip-text.model';
import { parseUNetConfig } from '../../src/engine/models/unet-config';
import { unetParamShapes } from '../../src/engine/models/unet-params';
import { OrtUNetDenoiser } from '../../src/engine/pipeline/onnx-executors';
import { OrtAutoencoderKl } from '../../src/engine/pipeline/vae-executors';
import { Random } from '../../src/engine/schedulers';

const FIXTURE = path.resolve(__dirname, '..', '..', '..', '..', 'shared', 'fixtures', 'tiny-sd');
const count = (m: Map<string, number[]>) => [...m.values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);

test('AutoencoderKL inventory: the tiny-sd folder saved by diffusers has exactly these names and shapes; SD-1.5\'s VAE has the published 83,653,863 parameters', async () => {
  const cfg = parseAutoencoderKlConfig(JSON.parse(readFileSync(path.join(FIXTURE, 'vae', 'config.json'), 'utf8')));
  const header = await readSafetensorsHeader(path.join(FIXTURE, 'vae', 'diffusion_pytorch_model.safetensors'));
  const want = new Map([...header.tensors].map(([name, info]) => [name, [...info.shape]]));
  const got = autoencoderKlParamShapes(cfg);
  assert.deepEqual(new Map([...got].sort()), new Map([...want].sort()));
  const sd = stableDiffusion15Configs('full');
  const vae = autoencoderKlParamShapes(parseAutoencoderKlConfig(sd.vae));
  assert.equal(count(vae), 83_653_863);
  assert.equal(count(unetParamShapes(parseUNetConfig(sd.unet))), 859_520_964);
  assert.equal(count(clipTextParamShapes(parseClipTextConfig(sd.textEncoder))), 123_060_480);
});

test('random SD-1.5 folder (tiny): diffusers layout and configs, fp16 weights under diffusers/transformers names, deterministic from the seed, finite UNet and VAE outputs', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'random-sd-'));
  try {
    const tokenizerDir = path.join(FIXTURE, 'tokenizer');
    const a = path.join(root, 'a');
    await writeRandomSdFolder(a, { seed: 3, size: 'tiny', tokenizerDir });
    await writeRandomSdFolder(path.join(root, 'b'), { seed: 3, size: 'tiny', tokenizerDir });
    await writeRandomSdFolder(path.join(root, 'c'), { seed: 4, size: 'tiny', tokenizerDir });
    const file = (dir: string) => readFileSync(path.join(root, dir, 'unet', 'diffusion_pytorch_model.safetensors'));
    assert.ok(file('a').equals(file('b')), 'same seed, same bytes');
    assert.ok(!file('a').equals(file('c')), 'another seed, other weights');

    const index = await readModelIndex(a);
    assert.deepEqual([index._class_name, index.vae, index.unet, index.tokenizer], ['StableDiffusionPipeline', ['diffusers', 'AutoencoderKL'], ['diffusers', 'UNet2DConditionModel'], ['transformers', 'CLIPTokenizer']]);
    const schedulerFile = JSON.parse(readFileSync(path.join(a, 'scheduler', 'scheduler_config.json'), 'utf8'));
    const fixtureScheduler = JSON.parse(readFileSync(path.join(FIXTURE, 'scheduler', 'scheduler_config.json'), 'utf8'));
    // SD-1.5's own file: the fixture's plus the prediction_type it added.
    delete fixtureScheduler.prediction_type;
    assert.deepEqual(schedulerFile, fixtureScheduler);
    for (const f of ['vocab.json', 'merges.txt']) assert.ok(readFileSync(path.join(a, 'tokenizer', f)).equals(readFileSync(path.join(FIXTURE, 'tokenizer', f))));

    const unetFile = await readSafetensorsFile(path.join(a, 'unet', 'diffusion_pytorch_model.safetensors'));
    const unetCfg = parseUNetConfig(JSON.parse(readFileSync(path.join(a, 'unet', 'config.json'), 'utf8')));
    assert.deepEqual(new Map([...unetFile.tensors].map(([k, v]) => [k, v.shape])), new Map([...unetParamShapes(unetCfg)].sort()));
    assert.ok([...unetFile.dtypes.values()].every((d) => d === 'F16'));
    // torch's default initialisation: |w| ≤ 1/√fan_in (up to fp16 rounding), norms 1 and 0.
    const w = unetFile.tensors.get('down_blocks.1.resnets.0.conv1.weight')!;
    const bound = 1 / Math.sqrt(w.shape[1] * 9);
    assert.ok(w.data.every((v) => Math.abs(v) <= bound * (1 + 1e-3)));
    assert.ok(Math.abs(Math.sqrt(w.data.reduce((s, v) => s + v * v, 0) / w.data.length) - bound / Math.sqrt(3)) < 0.05 * bound);
    assert.ok(unetFile.tensors.get('down_blocks.1.resnets.0.norm1.weight')!.data.every((v) => v === 1));
    assert.ok(unetFile.tensors.get('down_blocks.1.resnets.0.norm1.bias')!.data.every((v) => v === 0));

    const model = await loadDiffusionModel(a);
    assert.deepEqual([model.maxLength, model.tokenizer.encode('a red fox', { addSpecialTokens: false }).length > 0], [77, true]);
    const unet = await OrtUNetDenoiser.create(model, [], { intraOpThreads: 1 });
    const rng = new Random(1);
    const eps = await unet.predict({ batch: 1, sample: rng.randn(4 * 8 * 8), timesteps: Float32Array.of(500), encoderHiddenStates: rng.randn(77 * 64), encoderMask: new Float32Array(77).fill(1), lora: null });
    await unet.release();
    assert.ok(eps.every(Number.isFinite) && eps.some((v) => v !== 0));
    const vaeCfg = parseAutoencoderKlConfig(JSON.parse(readFileSync(path.join(a, 'vae', 'config.json'), 'utf8')));
    const vaeParams = new Map([...(await readSafetensorsFile(path.join(a, 'vae', 'diffusion_pytorch_model.safetensors'))).tensors]);
    const vae = await OrtAutoencoderKl.create(vaeCfg, vaeParams, vaeCfg.sample_size, { intraOpThreads: 1 });
    const image = await vae.decode(rng.randn(4 * 8 * 8).map((v) => v / vaeCfg.scaling_factor), 1);
    await vae.release();
    assert.equal(image.length, 3 * 64 * 64);
    assert.ok(image.every(Number.isFinite));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
