import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { OrtTextEncoder, OrtUNetDenoiser } from '../../src/engine/pipeline/onnx-executors';
import { readSafetensorsFile } from '../../src/engine/io/safetensors';
import { relErr } from '../support/numerics';
import { parseAutoencoderKlConfig, vaeScaleFactor } from '../../src/engine/models/autoencoder-kl.model';
import { OrtAutoencoderKl } from '../../src/engine/pipeline/vae-executors';
import { TINY_SD_DIR as FIXTURE, TINY_SD_REFS as REFS, loadTinySd as tinySd } from '../support/tiny-sd';

// A tiny SD-1.5-shaped pipeline saved by diffusers 0.27.2, with references computed by diffusers and
// CLIP's own tokenizer (its README says how). Loaded exactly as it is, from beside the repository.

interface TokenReference {
  prompts: { index: number; text: string; bpe_ids: number[]; input_ids: number[] }[];
}

test('tiny-sd: CLIP token ids from vocab.json + merges.txt equal CLIP\'s own, truncation keeping EOS', async () => {
  const { tokenizer, maxLength } = await tinySd();
  const refs = JSON.parse(readFileSync(path.join(REFS, 'tokens.json'), 'utf8')) as TokenReference;
  assert.equal(maxLength, 77);
  assert.equal(refs.prompts.length, 12);
  for (const p of refs.prompts) {
    assert.deepEqual(tokenizer.encode(p.text, { addSpecialTokens: false }), p.bpe_ids, `prompt ${p.index}`);
    const batch = tokenizer.encodeBatch([p.text], { maxLength: 77 });
    assert.deepEqual(Array.from(batch.inputIds), p.input_ids, `prompt ${p.index} (padded, truncated)`);
  }
});

test('tiny-sd: the SD-1.5-shaped UNet (CrossAttnDownBlock2D, UNetMidBlock2DCrossAttn, …) matches diffusers', async () => {
  const m = await tinySd();
  const ref = (await readSafetensorsFile(path.join(REFS, 'unet.safetensors'))).tensors;
  // timesteps.json is Python's json output (it holds -Infinity elsewhere, which JSON.parse refuses): read the one field.
  const field = /"unet_reference_timesteps":\s*(\[[^\]]*\])/.exec(readFileSync(path.join(REFS, 'timesteps.json'), 'utf8'));
  assert.ok(field, 'timesteps.json has unet_reference_timesteps');
  const timesteps = JSON.parse(field[1]) as number[];
  assert.deepEqual(timesteps, [999, 10]);
  const unet = await OrtUNetDenoiser.create(m, []);
  try {
    const out = await unet.predict({
      batch: 2,
      sample: ref.get('sample')!.data,
      timesteps: Float32Array.from(timesteps),
      encoderHiddenStates: ref.get('encoder_hidden_states')!.data,
      encoderMask: new Float32Array(2 * 77).fill(1), // SD-1.5 feeds no padding mask
      lora: null,
    });
    const err = relErr(out, ref.get('out_sample')!.data);
    assert.ok(err <= 1e-4, `relative error ${err}`);
  } finally {
    await unet.release();
  }
});

test('tiny-sd: the CLIP text encoder on the reference prompts matches the reference last_hidden_state', async () => {
  const m = await tinySd();
  const refs = JSON.parse(readFileSync(path.join(REFS, 'tokens.json'), 'utf8')) as TokenReference;
  const hidden = (await readSafetensorsFile(path.join(REFS, 'text_encoder.safetensors'))).tensors;
  const encoder = await OrtTextEncoder.create(m);
  try {
    const texts = refs.prompts.slice(0, 4).map((p) => p.text);
    const batch = m.tokenizer.encodeBatch(texts, { maxLength: 77, dtype: 'int64' });
    const out = await encoder.encode(batch.inputIds, new Float32Array(4 * 77).fill(1), 4);
    const err = relErr(out, hidden.get('last_hidden_state')!.data);
    assert.ok(err <= 1e-4, `relative error ${err}`);
  } finally {
    await encoder.release();
  }
});

test('tiny-sd: AutoencoderKL encode (mean, log-variance) and decode match diffusers', async () => {
  const cfg = parseAutoencoderKlConfig(JSON.parse(readFileSync(path.join(FIXTURE, 'vae', 'config.json'), 'utf8')));
  assert.deepEqual([cfg.scaling_factor, cfg.force_upcast, cfg.shift_factor, vaeScaleFactor(cfg)], [0.18215, true, null, 2]);
  const weights = (await readSafetensorsFile(path.join(FIXTURE, 'vae', 'diffusion_pytorch_model.safetensors'))).tensors;
  const params = new Map([...weights].map(([k, v]) => [k, { shape: v.shape, data: v.data }]));
  const ref = (await readSafetensorsFile(path.join(REFS, 'vae.safetensors'))).tensors;
  const vae = await OrtAutoencoderKl.create(cfg, params, cfg.sample_size);
  try {
    const { mean, logvar } = await vae.encode(ref.get('encode_input')!.data, 1);
    const decoded = await vae.decode(ref.get('decode_input')!.data, 1);
    const errs = { mean: relErr(mean, ref.get('encode_mean')!.data), logvar: relErr(logvar, ref.get('encode_logvar')!.data), decode: relErr(decoded, ref.get('decode_output')!.data) };
    for (const [what, err] of Object.entries(errs)) assert.ok(err <= 1e-4, `${what}: relative error ${err}`);
  } finally {
    await vae.release();
  }
});
