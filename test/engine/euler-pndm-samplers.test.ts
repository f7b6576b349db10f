/**
 * Euler, Euler-ancestral and PNDM (PLMS) samplers, and scheduler configs of diffusers' classes. Every
 * expected value comes from diffusers' documented formulas and constructor defaults (diffusers 0.27,
 * src/diffusers/schedulers/scheduling_*.py), written out here, or from exact properties (a sampler fed
 * the true noise of a known x0 must return x0).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRandomModel } from '../../src/engine/models/random-model';
import { createPipeline } from '../../src/engine/pipeline/pipeline.factory';
import { TextToImagePipeline, type GenerationRequest } from '../../src/engine/pipeline/text-to-image.pipeline';
import {
  createScheduler,
  DDIMScheduler,
  DPMSolverMultistepScheduler,
  EulerAncestralDiscreteScheduler,
  EulerDiscreteScheduler,
  parseSchedulerConfig,
  PNDMScheduler,
  Random,
  SCHEDULER_NAMES,
  serializeSchedulerConfig,
  type SchedulerName,
} from '../../src/engine/schedulers';
import { relErr } from '../support/numerics';
import { arraysClose, close, makeX0, maxAbsDiff, refAlphaBar, refScaledLinearBetas } from '../support/scheduler-references';

const T = 1000;
const SD_BETAS = { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 };
/** Stable Diffusion 1.x's own scheduler_config.json. */
const SD15 = { _class_name: 'PNDMScheduler', ...SD_BETAS, num_train_timesteps: 1000, set_alpha_to_one: false, skip_prk_steps: true, steps_offset: 1, trained_betas: null, clip_sample: false };
/** SDXL base's scheduler_config.json. */
const SDXL = { _class_name: 'EulerDiscreteScheduler', ...SD_BETAS, interpolation_type: 'linear', num_train_timesteps: 1000, prediction_type: 'epsilon', sample_max_value: 1.0, set_alpha_to_one: false, skip_prk_steps: true, steps_offset: 1, timestep_spacing: 'leading', trained_betas: null, use_karras_sigmas: false };

// σ_t = √((1 − ᾱ_t)/ᾱ_t) on SD's betas, and its linear interpolation between integer timesteps.
const betas = refScaledLinearBetas(0.00085, 0.012, T);
const alphaBars = betas.map((_, t) => refAlphaBar(betas, t));
const refSigma = alphaBars.map((a) => Math.sqrt((1 - a) / a));
function sigmaAt(t: number): number {
  const i = Math.min(Math.floor(t), T - 2);
  return refSigma[i] + (refSigma[i + 1] - refSigma[i]) * (t - i);
}

const euler = (over: Record<string, unknown> = {}, cls = 'EulerDiscreteScheduler'): EulerDiscreteScheduler =>
  new EulerDiscreteScheduler(parseSchedulerConfig({ _class_name: cls, ...SD_BETAS, ...over }));

/** The ε a perfect model predicts at input x_vp and noise level σ when the data is the single point x0. */
function exactEps(xVp: ArrayLike<number>, x0: ArrayLike<number>, sigma: number): Float32Array {
  const ab = 1 / (sigma * sigma + 1);
  return Float32Array.from(xVp, (v, i) => (v - Math.sqrt(ab) * x0[i]) / Math.sqrt(1 - ab));
}

describe('scheduler configs of diffusers classes', () => {
  // Constructor defaults of each class (diffusers 0.27 signatures), for the keys that differ between classes.
  const defaults: Record<string, Record<string, unknown>> = {
    PNDMScheduler: { timestep_spacing: 'leading', set_alpha_to_one: false, beta_schedule: 'linear', beta_start: 0.0001, beta_end: 0.02 },
    DDIMScheduler: { timestep_spacing: 'leading', set_alpha_to_one: true, clip_sample: true },
    DDPMScheduler: { timestep_spacing: 'leading', clip_sample: true, variance_type: 'fixed_small' },
    DPMSolverMultistepScheduler: { timestep_spacing: 'linspace', variance_type: null, solver_order: 2, algorithm_type: 'dpmsolver++' },
    EulerDiscreteScheduler: { timestep_spacing: 'linspace', steps_offset: 0, prediction_type: 'epsilon' },
    EulerAncestralDiscreteScheduler: { timestep_spacing: 'linspace', steps_offset: 0 },
    LMSDiscreteScheduler: { timestep_spacing: 'linspace', beta_schedule: 'linear' },
    HeunDiscreteScheduler: { timestep_spacing: 'linspace', beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'linear', clip_sample: false },
    LCMScheduler: { timestep_spacing: 'leading', beta_schedule: 'scaled_linear', beta_start: 0.00085, set_alpha_to_one: true, clip_sample: false },
    UniPCMultistepScheduler: { timestep_spacing: 'linspace', solver_type: 'bh2' },
    DEISMultistepScheduler: { algorithm_type: 'deis', solver_type: 'logrho' },
  };
  for (const [cls, want] of Object.entries(defaults)) {
    it(`${cls}: missing keys take its constructor defaults`, () => {
      const c = parseSchedulerConfig(JSON.stringify({ _class_name: cls }));
      for (const [k, v] of Object.entries(want)) assert.deepEqual((c as unknown as Record<string, unknown>)[k], v, k);
      assert.ok(Object.keys(want).every((k) => c._use_default_values.includes(k)));
    });
  }

  it('SD-1.5\'s PNDM file: explicit keys stay, the rest take the reading sampler\'s defaults', () => {
    const c = parseSchedulerConfig(SD15);
    const [e, a, p, d] = [new EulerDiscreteScheduler(c), new EulerAncestralDiscreteScheduler(c), new PNDMScheduler(c), new DDIMScheduler(c)];
    for (const s of [e, a]) {
      assert.equal(s.config.timestep_spacing, 'linspace');
      assert.equal(s.config.steps_offset, 1);
      assert.equal(s.config.beta_schedule, 'scaled_linear');
    }
    assert.equal(p.config.timestep_spacing, 'leading');
    assert.equal(d.config.set_alpha_to_one, false);
    // Euler "linspace" ignores steps_offset: linspace(0, 999, 10) = 0, 111, …, 999.
    e.setTimesteps(10);
    assert.deepEqual(Array.from(e.timesteps), [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
    // Without the key, PNDM ends on ᾱ_0 (its default false) and DDIM on 1 (its default true).
    const noKey = parseSchedulerConfig(Object.fromEntries(Object.entries(SD15).filter(([k]) => k !== 'set_alpha_to_one')));
    close(new PNDMScheduler(noKey).finalAlphaCumprod, 1 - 0.00085, 1e-12);
    assert.equal(new DDIMScheduler(noKey).finalAlphaCumprod, 1);
  });

  it('keys a diffusers in-memory config lists in _use_default_values count as absent (from_config)', () => {
    const dumped = { ...SD15, timestep_spacing: 'leading', prediction_type: 'epsilon', _use_default_values: ['timestep_spacing'] };
    assert.equal(new EulerDiscreteScheduler(parseSchedulerConfig(dumped)).config.timestep_spacing, 'linspace');
    assert.equal(new EulerDiscreteScheduler(parseSchedulerConfig({ ...dumped, _use_default_values: [] })).config.timestep_spacing, 'leading');
  });

  it('SDXL\'s Euler file: "leading" with steps_offset 1, init σ √(σ_max² + 1); serialized with Euler\'s keys', () => {
    const s = new EulerDiscreteScheduler(parseSchedulerConfig(SDXL));
    s.setTimesteps(10);
    assert.deepEqual(Array.from(s.timesteps), [901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    close(s.initNoiseSigma, Math.sqrt(refSigma[901] ** 2 + 1), 1e-6);
    const j = JSON.parse(serializeSchedulerConfig(s.config)) as Record<string, unknown>;
    assert.equal(j._class_name, 'EulerDiscreteScheduler');
    assert.equal(j.timestep_spacing, 'leading');
    assert.equal(j.interpolation_type, 'linear');
    assert.ok(!('solver_order' in j) && !('clip_sample_range' in j));
  });

  it('DPM-Solver reads DEIS and UniPC solver names as its own, as diffusers does', () => {
    const unipc = new DPMSolverMultistepScheduler(parseSchedulerConfig({ _class_name: 'UniPCMultistepScheduler', solver_type: 'bh2' }));
    assert.equal(unipc.config.solver_type, 'midpoint');
    const deis = new DPMSolverMultistepScheduler(parseSchedulerConfig({ _class_name: 'DEISMultistepScheduler', algorithm_type: 'deis', solver_type: 'logrho' }));
    assert.deepEqual([deis.config.algorithm_type, deis.config.solver_type], ['dpmsolver++', 'midpoint']);
  });

  it('refuses options the samplers do not implement', () => {
    assert.throws(() => euler({ use_karras_sigmas: true }), /use_karras_sigmas/);
    assert.throws(() => euler({ interpolation_type: 'log_linear' }), /interpolation_type/);
    assert.throws(() => euler({ timestep_type: 'continuous', prediction_type: 'v_prediction' }), /continuous/);
    assert.throws(() => new EulerAncestralDiscreteScheduler(parseSchedulerConfig({ prediction_type: 'sample' })), /prediction_type/);
    assert.throws(() => new PNDMScheduler(parseSchedulerConfig({ _class_name: 'PNDMScheduler' })), /skip_prk_steps/);
    assert.throws(() => new PNDMScheduler(parseSchedulerConfig({ ...SD15, prediction_type: 'sample' })), /prediction_type/);
    // The "pndm" name is PLMS whatever the config says.
    assert.ok(createScheduler('pndm', parseSchedulerConfig({ _class_name: 'PNDMScheduler' })) instanceof PNDMScheduler);
    assert.deepEqual(SCHEDULER_NAMES.slice(-3), ['euler', 'euler-ancestral', 'pndm']);
  });
});

describe('Euler (EulerDiscreteScheduler)', () => {
  it('"linspace": fractional float32 timesteps, σ interpolated linearly, init σ = σ_max (SD: 14.6146)', () => {
    const s = euler();
    s.setTimesteps(20);
    const want = Array.from({ length: 20 }, (_, k) => Math.fround(((19 - k) * 999) / 19));
    want[0] = 999;
    assert.deepEqual(Array.from(s.timesteps), want);
    assert.ok(!Number.isInteger(s.timesteps[1]), `${s.timesteps[1]} is fractional`);
    assert.equal(s.sigmas.length, 21);
    for (let k = 0; k < 20; k++) close(s.sigmas[k], sigmaAt(want[k]), 1e-6, `σ_${k}`);
    assert.equal(s.sigmas[20], 0);
    close(s.initNoiseSigma, refSigma[999], 1e-6);
    close(s.initNoiseSigma, 14.6146, 1e-4); // k-diffusion's well-known σ_max for SD
  });

  it('"trailing": T − 1, T − 1 − T/n, …; init σ = σ_max; final_sigmas_type "sigma_min" ends on σ_0', () => {
    const s = euler({ timestep_spacing: 'trailing' });
    s.setTimesteps(10);
    assert.deepEqual(Array.from(s.timesteps), [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
    close(s.initNoiseSigma, refSigma[999], 1e-6);
    const m = euler({ final_sigmas_type: 'sigma_min' });
    m.setTimesteps(4);
    close(m.sigmas[4], refSigma[0], 1e-6);
  });

  it('rescale_betas_zero_snr: ᾱ_T−1 = 2⁻²⁴, so σ_max = √((1 − 2⁻²⁴)/2⁻²⁴) ≈ 4096', () => {
    const s = euler({ rescale_betas_zero_snr: true, timestep_spacing: 'trailing' });
    s.setTimesteps(5);
    close(s.initNoiseSigma, Math.sqrt((1 - 2 ** -24) / 2 ** -24), 1e-6);
  });

  for (const pred of ['epsilon', 'v_prediction', 'sample'] as const) {
    it(`${pred}: scale_model_input = x/√(σ²+1) and one step x + (σ_next − σ)·(x − x̂0)/σ`, () => {
      const s = euler({ prediction_type: pred });
      s.setTimesteps(10); // 999, 888, …: step 3 is t = 666 → 555
      const x = makeX0(16, 0.3).map((v) => v * 7);
      const m = new Random(4).randn(16);
      const sigma = refSigma[666];
      const next = refSigma[555];
      arraysClose(s.scaleModelInput(x, 666), Array.from(x, (v) => v / Math.sqrt(sigma * sigma + 1)), 1e-6, 'scaled');
      const x0 = Array.from(x, (v, i) =>
        pred === 'epsilon' ? v - sigma * m[i] : pred === 'sample' ? m[i] : (-sigma / Math.sqrt(sigma ** 2 + 1)) * m[i] + v / (sigma ** 2 + 1),
      );
      arraysClose(s.step(m, 666, x), Array.from(x, (v, i) => v + ((v - x0[i]) / sigma) * (next - sigma)), 1e-5);
      // The next call continues at the next index (t = 555).
      arraysClose(s.scaleModelInput(x, 555), Array.from(x, (v) => v / Math.sqrt(next * next + 1)), 1e-6, 'next scaled');
    });
  }

  for (const [pred, spacing] of [['epsilon', 'linspace'], ['v_prediction', 'leading'], ['epsilon', 'trailing']] as const) {
    it(`${pred}, ${spacing}: fed the true noise of a known x0, 30 steps return x0`, () => {
      const s = euler({ prediction_type: pred, timestep_spacing: spacing, steps_offset: 1 });
      s.setTimesteps(30);
      const x0 = makeX0(64, 0.8);
      let x: Float32Array = new Random(12).randn(64).map((v) => v * s.initNoiseSigma);
      for (const t of s.timesteps) {
        const sigma = sigmaAt(t);
        const input = s.scaleModelInput(x, t);
        const eps = exactEps(input, x0, sigma);
        const ab = 1 / (sigma * sigma + 1);
        const out = pred === 'epsilon' ? eps : Float32Array.from(eps, (e, i) => Math.sqrt(ab) * e - Math.sqrt(1 - ab) * x0[i]);
        x = s.step(out, t, x);
      }
      const err = maxAbsDiff(x, x0);
      assert.ok(err < 1e-4, `max error ${err}`);
    });
  }
});

describe('Euler-ancestral (EulerAncestralDiscreteScheduler)', () => {
  it('one step: σ_up = √(σ_n²(σ² − σ_n²)/σ²), σ_down = √(σ_n² − σ_up²), x + (σ_down − σ)·(x − x̂0)/σ + σ_up·z', () => {
    const cfg = parseSchedulerConfig({ _class_name: 'EulerAncestralDiscreteScheduler', ...SD_BETAS });
    const s = new EulerAncestralDiscreteScheduler(cfg);
    s.setTimesteps(10);
    const x = makeX0(16, 1.1).map((v) => v * 5);
    const m = new Random(6).randn(16);
    const z = new Random(7).randn(16);
    const [sg, sn] = [refSigma[444], refSigma[333]];
    const up = Math.sqrt((sn ** 2 * (sg ** 2 - sn ** 2)) / sg ** 2);
    const down = Math.sqrt(sn ** 2 - up ** 2);
    const want = Array.from(x, (v, i) => v + ((v - (v - sg * m[i])) / sg) * (down - sg) + up * z[i]);
    arraysClose(s.step(m, 444, x, { noise: z }), want, 1e-5);
    // The same noise drawn from a seeded generator.
    const r = new EulerAncestralDiscreteScheduler(cfg, { rng: new Random(7) });
    r.setTimesteps(10);
    arraysClose(r.step(m, 444, x), want, 1e-5, 'rng');
    close(s.initNoiseSigma, refSigma[999], 1e-6);
  });

  it('fed the true noise of a known x0, any noise draws end on x0 (σ_up = σ_down = 0 at the end)', () => {
    const s = new EulerAncestralDiscreteScheduler(parseSchedulerConfig({ _class_name: 'EulerAncestralDiscreteScheduler', ...SD_BETAS }), { rng: new Random(3) });
    s.setTimesteps(25);
    const x0 = makeX0(64, 2.2);
    let x: Float32Array = new Random(13).randn(64).map((v) => v * s.initNoiseSigma);
    for (const t of s.timesteps) x = s.step(exactEps(s.scaleModelInput(x, t), x0, sigmaAt(t)), t, x);
    const err = maxAbsDiff(x, x0);
    assert.ok(err < 1e-4, `max error ${err}`);
  });
});

describe('PNDM (PLMS, skip_prk_steps)', () => {
  const cfg = parseSchedulerConfig(SD15);
  /** DDIM's deterministic transfer from ᾱ_t to ᾱ_prev, which PNDM's eq. 9 equals. */
  function ddimMove(x: ArrayLike<number>, eps: ArrayLike<number>, abT: number, abPrev: number): number[] {
    return Array.from(x, (v, i) => Math.sqrt(abPrev) * ((v - Math.sqrt(1 - abT) * eps[i]) / Math.sqrt(abT)) + Math.sqrt(1 - abPrev) * eps[i]);
  }

  it('visits the second timestep twice: 901, 801, 801, 701, …, 1 (leading, steps_offset 1)', () => {
    const s = new PNDMScheduler(cfg);
    s.setTimesteps(10);
    assert.deepEqual(Array.from(s.timesteps), [901, 801, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    s.setTimesteps(1);
    assert.deepEqual(Array.from(s.timesteps), [1]);
  });

  for (const pred of ['epsilon', 'v_prediction'] as const) {
    it(`${pred}: Heun-like restart, then Adams–Bashforth 2, 3, 4 on ε, and the last step to ᾱ_0`, () => {
      const s = new PNDMScheduler({ ...cfg, prediction_type: pred });
      s.setTimesteps(10);
      const xT = new Random(8).randn(12).map((v) => v * 0.9);
      const outs = [0, 1, 2, 3, 4, 5].map((k) => new Random(20 + k).randn(12));
      const ab = (t: number): number => (t >= 0 ? alphaBars[t] : alphaBars[0]); // set_alpha_to_one false
      // ε implied by a model output at (x, t).
      const epsOf = (m: Float32Array, x: ArrayLike<number>, t: number): number[] =>
        Array.from(m, (v, i) => (pred === 'epsilon' ? v : Math.sqrt(ab(t)) * v + Math.sqrt(1 - ab(t)) * x[i]));
      const mix = (w: number[], ms: Float32Array[]): Float32Array => Float32Array.from(ms[0], (_, i) => w.reduce((acc, wk, k) => acc + wk * ms[k][i], 0));
      const ts = s.timesteps;
      const x1 = s.step(outs[0], ts[0], xT);
      arraysClose(x1, ddimMove(xT, epsOf(outs[0], xT, 901), ab(901), ab(801)), 1e-5, 'step 0');
      // Second visit of 801: restart from x_T with the mean of both outputs.
      const x2 = s.step(outs[1], ts[1], x1);
      arraysClose(x2, ddimMove(xT, epsOf(mix([0.5, 0.5], [outs[1], outs[0]]), xT, 901), ab(901), ab(801)), 1e-5, 'step 1');
      const x3 = s.step(outs[2], ts[2], x2);
      arraysClose(x3, ddimMove(x2, epsOf(mix([3 / 2, -1 / 2], [outs[2], outs[0]]), x2, 801), ab(801), ab(701)), 1e-5, 'step 2');
      const x4 = s.step(outs[3], ts[3], x3);
      arraysClose(x4, ddimMove(x3, epsOf(mix([23 / 12, -16 / 12, 5 / 12], [outs[3], outs[2], outs[0]]), x3, 701), ab(701), ab(601)), 1e-5, 'step 3');
      const x5 = s.step(outs[4], ts[4], x4);
      const w4 = [55 / 24, -59 / 24, 37 / 24, -9 / 24];
      arraysClose(x5, ddimMove(x4, epsOf(mix(w4, [outs[4], outs[3], outs[2], outs[0]]), x4, 601), ab(601), ab(501)), 1e-5, 'step 4');
      // Fast-forward to the last timestep (1): the move lands on ᾱ_0, not 1.
      let x = x5;
      const hist = [outs[4], outs[3], outs[2]];
      for (let k = 5; k < ts.length; k++) {
        const m = k === ts.length - 1 ? outs[5] : outs[(k % 4) + 1];
        const want = ddimMove(x, epsOf(mix(w4, [m, ...hist]), x, ts[k]), ab(ts[k]), ab(ts[k] - 100));
        x = s.step(m, ts[k], x);
        arraysClose(x, want, 1e-5, `step ${k}`);
        hist.unshift(m);
        hist.length = 3;
      }
      // reset() starts a new trajectory.
      s.reset();
      assert.deepEqual(Array.from(s.step(outs[0], ts[0], xT)), Array.from(x1));
    });
  }

  it('fed the true noise of a known x0, ends on √ᾱ_final·x0 + √(1 − ᾱ_final)·ε (x0 with set_alpha_to_one)', () => {
    for (const setAlphaToOne of [false, true]) {
      const s = new PNDMScheduler({ ...cfg, set_alpha_to_one: setAlphaToOne });
      s.setTimesteps(20);
      const x0 = makeX0(64, 0.1);
      const eps = new Random(14).randn(64);
      const at = alphaBars[s.timesteps[0]];
      let x: Float32Array = Float32Array.from(x0, (v, i) => Math.sqrt(at) * v + Math.sqrt(1 - at) * eps[i]);
      for (const t of s.timesteps) x = s.step(eps, t, x);
      const aF = setAlphaToOne ? 1 : alphaBars[0];
      const err = maxAbsDiff(x, Array.from(x0, (v, i) => Math.sqrt(aF) * v + Math.sqrt(1 - aF) * eps[i]));
      assert.ok(err < 1e-4, `set_alpha_to_one ${setAlphaToOne}: max error ${err}`);
    }
  });
});

describe('text-to-image pipeline with the new samplers', () => {
  const base = createRandomModel({ seed: 4 });
  const req = (over: Partial<GenerationRequest> = {}): GenerationRequest => ({ prompt: 'red heart noto style', seed: 5, steps: 25, guidanceScale: 4, scheduler: 'euler', numImages: 1, ...over });

  it('an exact denoiser is sampled back to its image: initial noise × initNoiseSigma, model input x/√(σ²+1), float32 timesteps', async () => {
    // SD's betas and ε-prediction; DDIM and PNDM end on ᾱ = 1 so every sampler must return x0 itself.
    const model = { ...base, schedulerConfig: parseSchedulerConfig({ ...SD15, set_alpha_to_one: true }) };
    const size = model.sampleSpace.imageSize;
    const { pixelUnshuffle } = await import('../../src/engine/models/pixel-shuffle');
    const { patchSizeOf } = await import('../../src/engine/models/sample-space');
    const target = new Random(31).randn(3 * size * size).map((v) => Math.tanh(v) * 0.9);
    const x0 = pixelUnshuffle(target, 1, 3, size, size, patchSizeOf(model.sampleSpace));
    const seen: number[] = [];
    let firstInput: Float32Array | null = null;
    const oracle = {
      executor: 'oracle',
      async predict(b: { batch: number; sample: Float32Array; timesteps: Float32Array }) {
        seen.push(b.timesteps[0]);
        const len = x0.length;
        firstInput ??= b.sample.slice(0, len);
        const out = new Float32Array(b.sample.length);
        for (let r = 0; r < b.batch; r++) out.set(exactEps(b.sample.subarray(r * len, (r + 1) * len), x0, sigmaAt(b.timesteps[r])), r * len);
        return out;
      },
      async release() {},
    };
    const text = { async encode(_ids: BigInt64Array, _mask: Float32Array, n: number) { return new Float32Array(n * model.maxLength * model.unetConfig.cross_attention_dim); }, async release() {} };
    const p = new TextToImagePipeline({ model, textEncoder: text, denoiser: oracle, loraModules: [] });
    for (const scheduler of ['euler', 'euler-ancestral', 'pndm', 'ddim'] satisfies SchedulerName[]) {
      seen.length = 0;
      firstInput = null;
      const [r] = await p.generate([req({ scheduler })]);
      const err = relErr(r.images[0], target);
      assert.ok(err < 1e-5, `${scheduler}: relative error ${err}`);
      // The exact model forgives a wrongly scaled input, so check what the UNet saw first: the seed's
      // noise z times initNoiseSigma, divided by √(σ_max² + 1) — z itself for the variance-preserving ones.
      const z = new Random(5).randn(x0.length);
      const scale = scheduler.startsWith('euler') ? refSigma[999] / Math.sqrt(refSigma[999] ** 2 + 1) : 1;
      const firstErr = relErr(firstInput!, z.map((v) => v * scale));
      assert.ok(firstErr < 1e-6, `${scheduler}: first UNet input, relative error ${firstErr}`);
      if (scheduler === 'euler') assert.equal(seen[1], Math.fround((23 * 999) / 24), 'the UNet gets the fractional timestep');
      if (scheduler === 'pndm') assert.equal(seen.length, 26, 'PLMS evaluates the second timestep twice');
    }
  });

  it('Euler-ancestral step noise comes from each request\'s seed: the same image alone or batched', async () => {
    const p = await createPipeline(base, { intraOpThreads: 1 });
    try {
      const one = req({ scheduler: 'euler-ancestral', seed: 21, steps: 4 });
      const [alone] = await p.generate([one]);
      const batched = await p.generate([req({ scheduler: 'euler-ancestral', seed: 3, steps: 4, numImages: 2 }), one]);
      assert.ok(relErr(batched[1].images[0], alone.images[0]) < 1e-5, 'independent of batching');
      const [euler1] = await p.generate([req({ scheduler: 'euler', seed: 21, steps: 4 })]);
      assert.ok(relErr(euler1.images[0], alone.images[0]) > 1e-3, 'the ancestral noise changes the image');
    } finally {
      await p.release();
    }
  });
});
