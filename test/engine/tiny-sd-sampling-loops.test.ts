/**
 * Whole text-to-image sampling loops on the tiny SD-1.5-shaped fixture, against the latents diffusers
 * computed (../shared/fixtures/tiny-sd/README.md): DDIM and DPM-Solver++ read the folder's PNDM config
 * through `from_config`, PNDM (PLMS) uses it as it is. The engine's UNet runs every step from its own
 * previous latents, so errors accumulate over the loop exactly as they would in a generation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { loadDiffusionModel, type DiffusionModel } from '../../src/engine';
import { readSafetensorsFile } from '../../src/engine/io/safetensors';
import { parseAutoencoderKlConfig } from '../../src/engine/models/autoencoder-kl.model';
import { applyClassifierFreeGuidance } from '../../src/engine/pipeline/classifier-free-guidance';
import { OrtUNetDenoiser } from '../../src/engine/pipeline/onnx-executors';
import { OrtAutoencoderKl } from '../../src/engine/pipeline/vae-executors';
import {
  createScheduler,
  DDIMScheduler,
  DPMSolverMultistepScheduler,
  PNDMScheduler,
  type SamplingScheduler,
  type SchedulerConfig,
  type SchedulerName,
} from '../../src/engine/schedulers';
import { relErr } from '../support/numerics';

const FIXTURE = path.resolve(__dirname, '..', '..', '..', '..', 'shared', 'fixtures', 'tiny-sd');
const REFS = path.join(FIXTURE, 'references');
const RUNS = { ddim: 'ddim', dpm: 'dpmpp-2m', pndm: 'pndm' } as const satisfies Record<string, SchedulerName>;
type Run = keyof typeof RUNS;
/** What `Class.from_config(folder config)` builds in diffusers. */
const FROM_CONFIG: Record<Run, (c: SchedulerConfig) => SamplingScheduler> = {
  ddim: (c) => new DDIMScheduler(c),
  dpm: (c) => new DPMSolverMultistepScheduler(c),
  pndm: (c) => new PNDMScheduler(c),
};

interface Txt2ImgReference {
  guidance_scale: number;
  num_inference_steps: number;
  vae_scaling_factor: number;
  timesteps: Record<Run, number[]>;
  scheduler_classes: Record<Run, string>;
  scheduler_configs: Record<Run, Record<string, unknown> & { _use_default_values: string[] }>;
}

/** timesteps.json is Python's json output: `-Infinity` is not JSON, but an overflowing literal parses to it. */
function readTxt2ImgReference(): Txt2ImgReference {
  const text = readFileSync(path.join(REFS, 'timesteps.json'), 'utf8').replace(/:\s*-Infinity/g, ': -1e999');
  return (JSON.parse(text) as { txt2img: Txt2ImgReference }).txt2img;
}

let model: DiffusionModel | undefined;
async function tinySd(): Promise<DiffusionModel> {
  assert.ok(existsSync(path.join(FIXTURE, 'model_index.json')), `the tiny-sd fixture is missing at ${FIXTURE}`);
  model ??= await loadDiffusionModel(FIXTURE);
  return model;
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

test('tiny-sd: the folder\'s PNDM config read as DDIM, DPM-Solver and PNDM equals diffusers\' configs, defaults and timesteps', async () => {
  const m = await tinySd();
  const ref = readTxt2ImgReference();
  assert.equal(m.schedulerConfig._class_name, 'PNDMScheduler');
  for (const run of Object.keys(RUNS) as Run[]) {
    const s = FROM_CONFIG[run](m.schedulerConfig);
    const want = ref.scheduler_configs[run];
    assert.equal(s.config._class_name, ref.scheduler_classes[run]);
    const got = s.config as unknown as Record<string, unknown>;
    for (const [key, value] of Object.entries(want)) {
      if (key.startsWith('_')) continue;
      // Keys the engine models are fields; the rest (skip_prk_steps, use_karras_sigmas, …) ride in `extra`.
      if (key in got) {
        assert.deepEqual(got[key], value, `${run}: ${key}`);
        assert.equal(s.config._use_default_values.includes(key), want._use_default_values.includes(key), `${run}: is ${key} a class default`);
      } else if (!want._use_default_values.includes(key)) {
        assert.deepEqual(s.config.extra[key], value, `${run}: ${key} (extra)`);
      }
    }
    // The API's sampler names build the same schedules.
    for (const sched of [s, createScheduler(RUNS[run], m.schedulerConfig)]) {
      sched.setTimesteps(ref.num_inference_steps);
      assert.deepEqual(Array.from(sched.timesteps), ref.timesteps[run], `${run} timesteps`);
      assert.equal(sched.initNoiseSigma, 1);
    }
  }
});

test('tiny-sd: DDIM, DPM-Solver++ and PNDM text-to-image loops reproduce diffusers\' latents and images', async (t) => {
  const m = await tinySd();
  const ref = readTxt2ImgReference();
  const tensors = (await readSafetensorsFile(path.join(REFS, 'txt2img.safetensors'))).tensors;
  const get = (name: string): Float32Array => {
    const v = tensors.get(name);
    assert.ok(v, `txt2img.safetensors has ${name}`);
    return v.data;
  };
  const vaeCfg = parseAutoencoderKlConfig(JSON.parse(readFileSync(path.join(FIXTURE, 'vae', 'config.json'), 'utf8')));
  assert.equal(vaeCfg.scaling_factor, ref.vae_scaling_factor);
  const vaeWeights = (await readSafetensorsFile(path.join(FIXTURE, 'vae', 'diffusion_pytorch_model.safetensors'))).tensors;
  const vae = await OrtAutoencoderKl.create(vaeCfg, new Map([...vaeWeights].map(([k, v]) => [k, { shape: v.shape, data: v.data }])), vaeCfg.sample_size);
  const unet = await OrtUNetDenoiser.create(m, []);
  try {
    const embeds = get('prompt_embeds'); // [uncond, cond], as StableDiffusionPipeline concatenates them
    const noise = get('initial_noise');
    const len = noise.length;
    for (const run of Object.keys(RUNS) as Run[]) {
      const s = createScheduler(RUNS[run], m.schedulerConfig);
      s.setTimesteps(ref.num_inference_steps);
      const stepLatents = get(`${run}_step_latents`);
      assert.equal(stepLatents.length, s.timesteps.length * len);
      const errs: Record<string, number> = {};
      let x: Float32Array = noise.map((v) => v * s.initNoiseSigma);
      let worstStep = 0;
      for (let i = 0; i < s.timesteps.length; i++) {
        const ts = s.timesteps[i];
        const input = s.scaleModelInput(x, ts);
        const out = await unet.predict({
          batch: 2,
          sample: concat(input, input),
          timesteps: Float32Array.of(ts, ts),
          encoderHiddenStates: embeds,
          encoderMask: new Float32Array(2 * m.maxLength).fill(1), // SD-1.5 feeds no padding mask
          lora: null,
        });
        const uncond = out.subarray(0, len);
        const text = out.subarray(len);
        if (i === 0) {
          errs.step0EpsUncond = relErr(uncond, get(`${run}_step0_eps_uncond`));
          errs.step0EpsText = relErr(text, get(`${run}_step0_eps_text`));
        }
        // The engine's guidance takes conditional rows first.
        const eps = applyClassifierFreeGuidance(concat(text, uncond), 1, [ref.guidance_scale]);
        x = s.step(eps, ts, x);
        worstStep = Math.max(worstStep, relErr(x, stepLatents.subarray(i * len, (i + 1) * len)));
      }
      errs.worstStepLatents = worstStep;
      errs.finalLatents = relErr(x, get(`${run}_final_latents`));
      const image = await vae.decode(x.map((v) => v / vaeCfg.scaling_factor), 1);
      errs.image = relErr(image, get(`${run}_image`));
      t.diagnostic(`${run}: ${Object.entries(errs).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
      for (const [what, err] of Object.entries(errs)) assert.ok(err <= 1e-4, `${run} ${what}: relative error ${err}`);
    }
  } finally {
    await unet.release();
    await vae.release();
  }
});
