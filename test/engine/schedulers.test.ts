/**
 * Scheduler tests. Every expected value is recomputed here from the published formulas
 * (diffusers' documented semantics, DDPM/DDIM/DPM-Solver++ papers), never by calling the code
 * under test for the reference.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  createScheduler,
  DDIMScheduler,
  DDPMScheduler,
  ddimTimesteps,
  DPMSolverMultistepScheduler,
  dpmSolverTimesteps,
  makeSchedulerConfig,
  NoiseSchedule,
  parseSchedulerConfig,
  perturbedTimesteps,
  Random,
  roundHalfEven,
  serializeSchedulerConfig,
  type PredictionType,
  type SamplingScheduler,
  type SchedulerConfig,
} from '../../src/engine/schedulers';
import { arraysClose, close, makeX0, maxAbsDiff, refAlphaBar, refLinearBetas, refScaledLinearBetas } from '../support/scheduler-references';

// ---------- independent reference helpers ----------

const T = 1000;

/** Improved-DDPM cosine f(s) = cos²((s + 0.008)/1.008 · π/2). */
function cosF(s: number): number {
  return Math.cos(((s + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
}

const linearCfg = (over: Record<string, unknown> = {}, cls = 'DDIMScheduler'): SchedulerConfig =>
  parseSchedulerConfig({ _class_name: cls, beta_schedule: 'linear', beta_start: 0.0001, beta_end: 0.02, ...over });

// ---------- random ----------

describe('random', () => {
  it('xoshiro128** matches hand-stepped outputs from state [1, 2, 3, 4]', () => {
    // out = rotl(s1·5, 7)·9; s1 = 2 → rotl(10, 7) = 1280 → 11520.
    // Update: t = 2<<9 = 1024; s2 = 3^1 = 2; s3 = 4^2 = 6; s1 = 2^2 = 0; s0 = 1^6 = 7; s2 = 2^1024 = 1026;
    // s3 = rotl(6, 11) = 12288 → next out uses s1 = 0 → 0.
    // Update: t = 0; s2 = 1026^7 = 1029; s3 = 12288^0 = 12288; s1 = 0^1029 = 1029; s0 = 7^12288 = 12295;
    // s3 = rotl(12288, 11) = 25165824 → out = rotl(5145, 7)·9 = 658560·9 = 5927040.
    const r = Random.fromState([1, 2, 3, 4]);
    assert.deepEqual([r.nextUint32(), r.nextUint32()], [11520, 0]);
    // State after two updates, as derived above: (s0, s1, s2, s3) = (7^12288, 0^1029, 1029, rotl(12288, 11)).
    assert.deepEqual(r.getState().s, [12295, 1029, 1029, 25165824]);
    assert.equal(r.nextUint32(), 5927040);
  });

  it('seeds the state with SplitMix64', () => {
    const mask = (1n << 64n) - 1n;
    let st = 42n;
    const next = (): bigint => {
      st = (st + 0x9e3779b97f4a7c15n) & mask;
      let z = st;
      z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & mask;
      z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & mask;
      return z ^ (z >> 31n);
    };
    const a = next();
    const b = next();
    const want = [a & 0xffffffffn, a >> 32n, b & 0xffffffffn, b >> 32n].map(Number);
    assert.deepEqual(new Random(42).getState().s, want);
  });

  it('normal() is Box–Muller over 53-bit uniforms', () => {
    const r = new Random(7);
    const raw = r.clone();
    const u = (): number => {
      const a = raw.nextUint32() >>> 5;
      const b = raw.nextUint32() >>> 6;
      return (a * 2 ** 26 + b) / 2 ** 53;
    };
    const u1 = 1 - u();
    const u2 = u();
    const rad = Math.sqrt(-2 * Math.log(u1));
    assert.equal(r.normal(), rad * Math.cos(2 * Math.PI * u2));
    assert.equal(r.normal(), rad * Math.sin(2 * Math.PI * u2));
  });

  it('is reproducible, chunk-independent and restorable', () => {
    const a = new Random(123).randn(8);
    const b = new Random(123);
    const joined = [...b.randn(3), ...b.randn(5)];
    assert.deepEqual(Array.from(a), joined);
    const c = new Random(99);
    c.randn(5);
    const saved = c.getState();
    const next = c.randn(4);
    assert.deepEqual(Array.from(Random.fromState(saved).randn(4)), Array.from(next));
    assert.notDeepEqual(Array.from(new Random(124).randn(8)), Array.from(a));
  });

  it('produces standard normals and unbiased integers', () => {
    const z = new Random(2024).randn(20000);
    let mean = 0;
    for (const v of z) mean += v;
    mean /= z.length;
    let varc = 0;
    for (const v of z) varc += (v - mean) ** 2;
    varc /= z.length;
    assert.ok(Math.abs(mean) < 0.03, `mean ${mean}`);
    assert.ok(Math.abs(varc - 1) < 0.04, `var ${varc}`);
    const r = new Random(5);
    const counts = new Array(7).fill(0);
    for (let i = 0; i < 7000; i++) counts[r.randint(3, 10) - 3]++;
    for (const c of counts) assert.ok(c > 850 && c < 1150, `bucket ${c}`);
  });
});

// ---------- beta schedules ----------

describe('beta schedules (1000 steps)', () => {
  it('linear: β_i = 1e-4 + i·(0.02 − 1e-4)/999', () => {
    const s = new NoiseSchedule(linearCfg());
    const ref = refLinearBetas(0.0001, 0.02, T);
    // β_500 = 1e-4 + 500·0.0199/999 = 0.0100599599599…
    close(ref[500], 0.010059959959959959, 1e-15);
    for (const i of [0, 1, 500, 998, 999]) close(s.betas[i], ref[i], 1e-12, `β_${i}`);
    for (const t of [0, 10, 500, 999]) close(s.alphasCumprod[t], refAlphaBar(ref, t), 1e-10, `ᾱ_${t}`);
    // ᾱ_999 = Π(1 − β_i) ≈ 4.0358e-5 for this schedule.
    close(refAlphaBar(ref, 999), 4.035829765375676e-5, 1e-9);
  });

  it('scaled_linear: β_i = (√0.00085 + i·(√0.012 − √0.00085)/999)²', () => {
    const s = new NoiseSchedule(
      parseSchedulerConfig({ beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 }),
    );
    const ref = refScaledLinearBetas(0.00085, 0.012, T);
    // β_500 = (0.0291548 + 500·(0.1095445 − 0.0291548)/999)² ≈ 0.0048149541
    close(ref[500], 0.00481495414171188, 1e-12);
    for (const i of [0, 1, 500, 999]) close(s.betas[i], ref[i], 1e-12, `β_${i}`);
    close(s.betas[0], 0.00085, 1e-12);
    close(s.betas[999], 0.012, 1e-12);
    // Stable Diffusion's well-known final ᾱ ≈ 0.00466.
    close(s.alphasCumprod[999], refAlphaBar(ref, 999), 1e-10);
    close(s.alphasCumprod[999], 0.004660098513077238, 1e-9);
  });

  it('squaredcos_cap_v2: ᾱ_t = f((t+1)/T)/f(0), last β capped at 0.999', () => {
    const s = new NoiseSchedule(parseSchedulerConfig({ beta_schedule: 'squaredcos_cap_v2' }));
    // β_0 = 1 − f(0.001)/f(0) ≈ 4.1284e-5
    close(s.betas[0], 1 - cosF(0.001) / cosF(0), 1e-12);
    close(1 - cosF(0.001) / cosF(0), 4.128422482196914e-5, 1e-9);
    // Product telescopes: Π_{i<=t} f((i+1)/T)/f(i/T) = f((t+1)/T)/f(0); ᾱ_499 = f(0.5)/f(0) ≈ 0.493844.
    for (const t of [0, 1, 250, 499, 900, 998]) close(s.alphasCumprod[t], cosF((t + 1) / T) / cosF(0), 1e-9, `ᾱ_${t}`);
    close(cosF(0.5) / cosF(0), 0.49384359044063775, 1e-12);
    // f(1) = cos²(π/2) ≈ 0 makes the raw β_999 ≈ 1: it is capped at max_beta 0.999.
    close(s.betas[999], 0.999, 1e-15);
    close(s.alphasCumprod[999], (cosF(999 / T) / cosF(0)) * (1 - 0.999), 1e-9);
  });

  it('rescale_betas_zero_snr keeps √ᾱ_0 and makes ᾱ_T = 0', () => {
    const plain = new NoiseSchedule(parseSchedulerConfig({ beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 }));
    const zs = new NoiseSchedule(
      parseSchedulerConfig({ beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, rescale_betas_zero_snr: true }),
    );
    close(zs.alphasCumprod[0], plain.alphasCumprod[0], 1e-12);
    assert.equal(zs.alphasCumprod[999], 0);
    // Middle values follow the affine map of √ᾱ: (√ᾱ_t − √ᾱ_T)·√ᾱ_0/(√ᾱ_0 − √ᾱ_T).
    const a0 = Math.sqrt(plain.alphasCumprod[0]);
    const aT = Math.sqrt(plain.alphasCumprod[999]);
    const mid = ((Math.sqrt(plain.alphasCumprod[500]) - aT) * a0) / (a0 - aT);
    close(zs.alphasCumprod[500], mid * mid, 1e-10);
    assert.equal(zs.snr(999), 0);
    assert.equal(zs.minSnrWeight(999, 5, 'epsilon'), 1);
  });
});

// ---------- timestep spacing ----------

/** diffusers DDPM/DDIM rules, written out for integer-friendly cases. */
function refDdimSpacing(mode: string, n: number, offset: number): number[] {
  const out: number[] = [];
  if (mode === 'leading') {
    const r = Math.floor(T / n);
    for (let i = n - 1; i >= 0; i--) out.push(i * r + offset);
  } else if (mode === 'trailing') {
    for (let i = 0; i < n; i++) out.push(roundHalfEvenRef(T - (i * T) / n) - 1);
  } else {
    for (let i = n - 1; i >= 0; i--) out.push(roundHalfEvenRef((i * (T - 1)) / (n - 1)));
  }
  return out;
}

/** diffusers DPMSolverMultistep rules: n+1 grid points, t=0 end dropped. */
function refDpmSpacing(mode: string, n: number, offset: number): number[] {
  const out: number[] = [];
  if (mode === 'leading') {
    const r = Math.floor(T / (n + 1));
    for (let i = n; i >= 1; i--) out.push(i * r + offset);
  } else if (mode === 'trailing') {
    for (let i = 0; i < n; i++) out.push(roundHalfEvenRef(T - (i * T) / n) - 1);
  } else {
    for (let i = n; i >= 1; i--) out.push(roundHalfEvenRef(i * ((T - 1) / n)));
  }
  return out;
}

function roundHalfEvenRef(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

describe('timestep spacing', () => {
  it('rounds half to even like numpy', () => {
    assert.deepEqual([0.5, 1.5, 2.5, -0.5, 499.5, 2.4, 2.6].map(roundHalfEven), [0, 2, 2, -0, 500, 2, 3]);
  });

  for (const n of [20, 50]) {
    for (const mode of ['leading', 'trailing', 'linspace'] as const) {
      it(`DDIM/DDPM ${mode}, ${n} steps (steps_offset 1)`, () => {
        const got = Array.from(ddimTimesteps(mode, T, n, 1));
        assert.deepEqual(got, refDdimSpacing(mode, n, 1));
        const cfg = linearCfg({ timestep_spacing: mode, steps_offset: 1 });
        const s = new DDIMScheduler(cfg);
        s.setTimesteps(n);
        assert.deepEqual(Array.from(s.timesteps), got);
        const d = new DDPMScheduler(cfg);
        d.setTimesteps(n);
        assert.deepEqual(Array.from(d.timesteps), got);
      });
      it(`DPM-Solver ${mode}, ${n} steps (steps_offset 1)`, () => {
        const s = new DPMSolverMultistepScheduler(linearCfg({ timestep_spacing: mode, steps_offset: 1 }, 'DPMSolverMultistepScheduler'));
        s.setTimesteps(n);
        assert.deepEqual(Array.from(s.timesteps), refDpmSpacing(mode, n, 1));
      });
    }
  }

  it('spot values as diffusers prints them', () => {
    // DDIM "leading", 20 steps, steps_offset 1 (Stable Diffusion): 951, 901, …, 1.
    assert.deepEqual(Array.from(ddimTimesteps('leading', T, 20, 1)).slice(0, 3), [951, 901, 851]);
    // DDIM "linspace", 20 steps: round(i·999/19) → 999, 946, 894, 841, …, 53, 0.
    assert.deepEqual(Array.from(ddimTimesteps('linspace', T, 20)).slice(0, 4), [999, 946, 894, 841]);
    // DPM "linspace", 20 steps: linspace(0, 999, 21) = i·49.95, and 10·49.95 = 499.5 rounds to 500.
    assert.deepEqual(Array.from(dpmSolverTimesteps('linspace', T, 20)).slice(8, 12), [599, 549, 500, 450]);
    // DPM "leading", 20 steps: ⌊1000/21⌋ = 47 → 940, 893, …, 47.
    assert.deepEqual(Array.from(dpmSolverTimesteps('leading', T, 20)).slice(0, 2), [940, 893]);
  });

  it('"trailing" never yields timestep -1 (numpy float-arange overshoot)', () => {
    // arange(1000, 0, -1000/61) has 62 elements in numpy, the last ≈ 1e-13 → round → 0 → −1.
    const ts = ddimTimesteps('trailing', T, 61);
    assert.equal(ts.length, 61);
    assert.equal(ts[60], roundHalfEvenRef(T - (60 * T) / 61) - 1);
  });

  it('DPM-Solver honours lambda_min_clipped', () => {
    const cfg = parseSchedulerConfig({
      _class_name: 'DPMSolverMultistepScheduler',
      beta_schedule: 'squaredcos_cap_v2',
      lambda_min_clipped: -5.1,
    });
    const s = new DPMSolverMultistepScheduler(cfg);
    // Count timesteps (from the top) whose λ = log(√ᾱ/√(1−ᾱ)) is below −5.1.
    let clipped = 0;
    for (let t = T - 1; t >= 0; t--) {
      const ab = t < T - 1 ? cosF((t + 1) / T) / cosF(0) : (cosF(0.999) / cosF(0)) * 0.001;
      if (0.5 * Math.log(ab / (1 - ab)) >= -5.1) break;
      clipped++;
    }
    assert.ok(clipped > 0);
    s.setTimesteps(10);
    const last = T - clipped;
    assert.deepEqual(
      Array.from(s.timesteps),
      Array.from({ length: 10 }, (_, k) => roundHalfEvenRef((10 - k) * ((last - 1) / 10))),
    );
  });

  it('perturbed Diffusion-DRO timesteps shift the leading grid by one offset in [0, T/n)', () => {
    const rng = new Random(3);
    for (let k = 0; k < 20; k++) {
      const ts = perturbedTimesteps(T, 20, rng);
      const off = ts[19];
      assert.ok(off >= 0 && off < 50);
      assert.deepEqual(ts, Array.from({ length: 20 }, (_, i) => (19 - i) * 50 + off));
    }
  });
});

// ---------- training helpers ----------

describe('training helpers', () => {
  const cfg = parseSchedulerConfig({ beta_schedule: 'squaredcos_cap_v2', prediction_type: 'v_prediction' });
  const s = new NoiseSchedule(cfg);
  const ab = (t: number): number => (t < T - 1 ? cosF((t + 1) / T) / cosF(0) : (cosF(0.999) / cosF(0)) * 0.001);
  const t = [0, 437, 998];
  const per = 5;
  const x0 = makeX0(t.length * per);
  const eps = new Random(11).randn(t.length * per);

  it('addNoise: x_t = √ᾱ·x0 + √(1−ᾱ)·ε per sample', () => {
    const xt = s.addNoise(x0, eps, t);
    for (let b = 0; b < t.length; b++) {
      for (let i = b * per; i < (b + 1) * per; i++) {
        close(xt[i], Math.sqrt(ab(t[b])) * x0[i] + Math.sqrt(1 - ab(t[b])) * eps[i], 1e-6);
      }
    }
  });

  it('velocity identities: x0 = √ᾱ·x_t − √(1−ᾱ)·v and ε = √ᾱ·v + √(1−ᾱ)·x_t', () => {
    const xt = s.addNoise(x0, eps, t);
    const v = s.velocity(x0, eps, t);
    for (let b = 0; b < t.length; b++) {
      const a = Math.sqrt(ab(t[b]));
      const sg = Math.sqrt(1 - ab(t[b]));
      for (let i = b * per; i < (b + 1) * per; i++) {
        close(v[i], a * eps[i] - sg * x0[i], 1e-6);
        close(a * xt[i] - sg * v[i], x0[i], 1e-5);
        close(a * v[i] + sg * xt[i], eps[i], 1e-5);
      }
    }
    assert.deepEqual(Array.from(s.trainingTarget('v_prediction', x0, eps, t)), Array.from(v));
    assert.deepEqual(Array.from(s.trainingTarget('epsilon', x0, eps, t)), Array.from(eps));
    assert.deepEqual(Array.from(s.trainingTarget('sample', x0, eps, t)), Array.from(x0));
    // Model-output conversions invert the targets.
    arraysClose(s.predictOriginal(v, xt, t, 'v_prediction'), x0, 1e-5);
    arraysClose(s.predictEpsilon(v, xt, t, 'v_prediction'), eps, 1e-5);
    arraysClose(s.predictOriginal(eps, xt, [0, 437, 900], 'epsilon').subarray(0, 10), x0.subarray(0, 10), 1e-4);
    arraysClose(s.predictEpsilon(x0, xt, t, 'sample').subarray(0, 10), eps.subarray(0, 10), 1e-3);
  });

  it('rejects batch/length mismatches', () => {
    assert.throws(() => s.addNoise(x0, eps.subarray(1), t));
    assert.throws(() => s.addNoise(x0, eps, [1, 2, 3, 4]));
    assert.throws(() => s.addNoise(x0, eps, [0, 1, T]));
  });

  it('snr and Min-SNR-γ weights', () => {
    const gamma = 5;
    for (const tt of [0, 50, 200, 437, 700, 998]) {
      const snr = ab(tt) / (1 - ab(tt));
      close(s.snr(tt), snr, 1e-8);
      close(s.minSnrWeight(tt, gamma, 'epsilon'), Math.min(snr, gamma) / snr, 1e-8);
      close(s.minSnrWeight(tt, gamma, 'v_prediction'), Math.min(snr, gamma) / (snr + 1), 1e-8);
      close(s.minSnrWeight(tt, gamma, 'sample'), Math.min(snr, gamma), 1e-8);
    }
    // High-noise end: snr < γ → ε weight 1, v weight snr/(snr+1) = ᾱ.
    close(s.minSnrWeight(900, gamma, 'epsilon'), 1, 1e-12);
    close(s.minSnrWeight(900, gamma), ab(900), 1e-8); // config default is v_prediction
    const w = s.minSnrWeights([0, 900], gamma, 'v_prediction');
    close(w[0], gamma / (ab(0) / (1 - ab(0)) + 1), 1e-6);
  });

  it('samples training timesteps uniformly in [0, T)', () => {
    const ts = s.sampleTimesteps(2000, new Random(1));
    assert.ok(ts.every((v) => v >= 0 && v < T));
    assert.ok(Math.abs(ts.reduce((a, b) => a + b, 0) / ts.length - 499.5) < 25);
  });
});

// ---------- DDIM ----------

describe('DDIM step (Song et al. eq. 12)', () => {
  const cfg = linearCfg({ clip_sample: false, set_alpha_to_one: true, timestep_spacing: 'leading', steps_offset: 1 });
  const betas = refLinearBetas(0.0001, 0.02, T);
  const x = makeX0(16, 1.3).map((v) => v * 1.5);
  const m = new Random(21).randn(16);

  function refDdim(pred: PredictionType, t: number, prev: number, eta: number, z?: Float32Array): number[] {
    const at = refAlphaBar(betas, t);
    const ap = prev >= 0 ? refAlphaBar(betas, prev) : 1;
    const sigma = eta * Math.sqrt((1 - ap) / (1 - at)) * Math.sqrt(1 - at / ap);
    return Array.from(x, (xi, i) => {
      const e = pred === 'epsilon' ? m[i] : Math.sqrt(at) * m[i] + Math.sqrt(1 - at) * xi;
      const x0 = pred === 'epsilon' ? (xi - Math.sqrt(1 - at) * e) / Math.sqrt(at) : Math.sqrt(at) * xi - Math.sqrt(1 - at) * m[i];
      return Math.sqrt(ap) * x0 + Math.sqrt(1 - ap - sigma * sigma) * e + (z ? sigma * z[i] : 0);
    });
  }

  for (const pred of ['epsilon', 'v_prediction'] as const) {
    it(`${pred}: deterministic step, stride T/n, final step to ᾱ = 1`, () => {
      const s = new DDIMScheduler({ ...cfg, prediction_type: pred });
      s.setTimesteps(50);
      assert.equal(s.timesteps[10], 781);
      arraysClose(s.step(m, 781, x), refDdim(pred, 781, 761, 0), 1e-5, 'mid');
      arraysClose(s.step(m, 1, x), refDdim(pred, 1, -19, 0), 1e-5, 'final');
    });

    it(`${pred}: eta > 0 with given noise and with a seeded generator`, () => {
      const z = new Random(8).randn(16);
      const s = new DDIMScheduler({ ...cfg, prediction_type: pred }, { eta: 0.7 });
      s.setTimesteps(50);
      arraysClose(s.step(m, 501, x, { noise: z }), refDdim(pred, 501, 481, 0.7, z), 1e-5);
      const a = new DDIMScheduler({ ...cfg, prediction_type: pred }, { eta: 0.7, rng: new Random(8) });
      a.setTimesteps(50);
      arraysClose(a.step(m, 501, x), refDdim(pred, 501, 481, 0.7, z), 1e-5, 'rng');
    });
  }

  it('set_alpha_to_one = false ends at ᾱ_0; clip_sample clamps x̂0', () => {
    const s = new DDIMScheduler({ ...cfg, set_alpha_to_one: false });
    s.setTimesteps(50);
    const at = refAlphaBar(betas, 1);
    const a0 = refAlphaBar(betas, 0);
    const want = Array.from(x, (xi, i) => {
      const x0 = (xi - Math.sqrt(1 - at) * m[i]) / Math.sqrt(at);
      return Math.sqrt(a0) * x0 + Math.sqrt(1 - a0) * m[i];
    });
    arraysClose(s.step(m, 1, x), want, 1e-5);
    const c = new DDIMScheduler({ ...cfg, clip_sample: true });
    c.setTimesteps(50);
    const out = c.step(m, 1, x);
    for (let i = 0; i < 16; i++) {
      const x0 = Math.min(1, Math.max(-1, (x[i] - Math.sqrt(1 - at) * m[i]) / Math.sqrt(at)));
      close(out[i], x0, 1e-5);
    }
  });
});

// ---------- DPM-Solver++(2M) ----------

describe('DPM-Solver++(2M) (Lu et al. Algorithm 2)', () => {
  const cfg = parseSchedulerConfig({
    _class_name: 'DPMSolverMultistepScheduler',
    beta_schedule: 'scaled_linear',
    beta_start: 0.00085,
    beta_end: 0.012,
    timestep_spacing: 'linspace',
  });
  const betas = refScaledLinearBetas(0.00085, 0.012, T);
  const n = 4;
  // linspace(0, 999, 5) = 0, 249.75, 499.5, 749.25, 999 → rounded half-even, t=0 dropped: 999, 749, 500, 250.
  const steps = refDpmSpacing('linspace', n, 0);
  const model = (xt: Float32Array, t: number): Float32Array =>
    Float32Array.from(xt, (v, i) => 0.6 * v + 0.2 * Math.sin(0.01 * t + i));

  for (const pred of ['epsilon', 'v_prediction'] as const) {
    it(`${pred}: first-order start, two 2M steps, first-order final to σ = 0`, () => {
      const s = new DPMSolverMultistepScheduler({ ...cfg, prediction_type: pred });
      s.setTimesteps(n);
      assert.deepEqual(steps, [999, 749, 500, 250]);
      assert.deepEqual(Array.from(s.timesteps), steps);
      const xT = new Random(4).randn(12);

      // Reference, with α_t = √ᾱ_t, σ_t = √(1−ᾱ_t), λ_t = log(α_t/σ_t), h_i = λ_{t_i} − λ_{t_{i−1}}.
      const al = (t: number): number => Math.sqrt(refAlphaBar(betas, t));
      const sg = (t: number): number => Math.sqrt(1 - refAlphaBar(betas, t));
      const lam = (t: number): number => Math.log(al(t) / sg(t));
      const x0hat = (x: number[], t: number): number[] => {
        const out = Array.from(model(Float32Array.from(x), t));
        return x.map((xi, i) => (pred === 'epsilon' ? (xi - sg(t) * out[i]) / al(t) : al(t) * xi - sg(t) * out[i]));
      };
      const ref: number[][] = [Array.from(xT)];
      const d: number[][] = [];
      // Step 1 (first order, = DDIM): x̃1 = (σ1/σ0)·x̃0 − α1(e^{−h1} − 1)·x̂0(x̃0).
      d.push(x0hat(ref[0], steps[0]));
      {
        const h = lam(steps[1]) - lam(steps[0]);
        ref.push(ref[0].map((xi, i) => (sg(steps[1]) / sg(steps[0])) * xi - al(steps[1]) * (Math.exp(-h) - 1) * d[0][i]));
      }
      // Steps 2, 3: r_i = h_{i−1}/h_i, D_i = (1 + 1/(2r_i))·x̂0_{i−1} − 1/(2r_i)·x̂0_{i−2},
      // x̃_i = (σ_i/σ_{i−1})·x̃_{i−1} − α_i(e^{−h_i} − 1)·D_i.
      for (let k = 2; k <= 3; k++) {
        d.push(x0hat(ref[k - 1], steps[k - 1]));
        const h = lam(steps[k]) - lam(steps[k - 1]);
        const hPrev = lam(steps[k - 1]) - lam(steps[k - 2]);
        const r = hPrev / h;
        ref.push(
          ref[k - 1].map((xi, i) => {
            const D = (1 + 1 / (2 * r)) * d[k - 1][i] - (1 / (2 * r)) * d[k - 2][i];
            return (sg(steps[k]) / sg(steps[k - 1])) * xi - al(steps[k]) * (Math.exp(-h) - 1) * D;
          }),
        );
      }
      // Final: first order to σ = 0 (α = 1, e^{−h} = 0) returns x̂0 at the last timestep.
      ref.push(x0hat(ref[3], steps[3]));

      let x = xT;
      for (let k = 0; k < n; k++) {
        x = s.step(model(x, s.timesteps[k]), s.timesteps[k], x);
        arraysClose(x, ref[k + 1], 2e-5, `${pred} step ${k}`);
      }
      assert.throws(() => s.step(model(x, 0), 0, x));
      // reset() starts a fresh trajectory with the same results.
      s.reset();
      let y = xT;
      for (const t of s.timesteps) y = s.step(model(y, t), t, y);
      assert.deepEqual(Array.from(y), Array.from(x));
    });
  }

  it('heun solver_type uses the α_t((e^{−h} − 1)/h + 1)·D1 correction', () => {
    const s = new DPMSolverMultistepScheduler({ ...cfg, solver_type: 'heun' });
    s.setCustomTimesteps([900, 600, 300]);
    const al = (t: number): number => Math.sqrt(refAlphaBar(betas, t));
    const sg = (t: number): number => Math.sqrt(1 - refAlphaBar(betas, t));
    const lam = (t: number): number => Math.log(al(t) / sg(t));
    const x0 = new Random(2).randn(6);
    const m0 = Array.from(model(x0, 900));
    const x1 = s.step(Float32Array.from(m0), 900, x0);
    const m1 = Array.from(model(x1, 600));
    const x2 = s.step(Float32Array.from(m1), 600, x1);
    const d0 = Array.from(x0, (v, i) => (v - sg(900) * m0[i]) / al(900));
    const d1 = Array.from(x1, (v, i) => (v - sg(600) * m1[i]) / al(600));
    const h = lam(300) - lam(600);
    const r = (lam(600) - lam(900)) / h;
    const want = Array.from(x1, (v, i) => {
      const D1 = (d1[i] - d0[i]) / r;
      return (sg(300) / sg(600)) * v - al(300) * (Math.exp(-h) - 1) * d1[i] + al(300) * ((Math.exp(-h) - 1) / h + 1) * D1;
    });
    arraysClose(x2, want, 2e-5);
  });
});

// ---------- end-to-end reconstruction ----------

describe('samplers reconstruct x0 from an exact model', () => {
  const x0 = makeX0(64, 0.4);
  const eps = new Random(77).randn(64);

  /** Runs a full trajectory with the exact ε (or v) of x_t = √ᾱ x0 + √(1−ᾱ) ε along the schedule. */
  function sampleExact(s: SamplingScheduler, pred: PredictionType): Float32Array {
    const ab = (t: number): number => s.schedule.alphasCumprod[t];
    const t0 = s.timesteps[0];
    let x: Float32Array = Float32Array.from(x0, (v, i) => Math.sqrt(ab(t0)) * v + Math.sqrt(1 - ab(t0)) * eps[i]);
    for (const t of s.timesteps) {
      const out =
        pred === 'epsilon' ? eps : Float32Array.from(eps, (e, i) => Math.sqrt(ab(t)) * e - Math.sqrt(1 - ab(t)) * x0[i]);
      x = s.step(out, t, x);
    }
    return x;
  }

  const configs: Record<string, Record<string, unknown>> = {
    'cosine v-pred (default recipe)': { beta_schedule: 'squaredcos_cap_v2', prediction_type: 'v_prediction' },
    'scaled_linear epsilon': { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, steps_offset: 1 },
    'linear v-pred trailing': { beta_schedule: 'linear', prediction_type: 'v_prediction', timestep_spacing: 'trailing' },
  };
  for (const [label, over] of Object.entries(configs)) {
    const pred = (over.prediction_type ?? 'epsilon') as PredictionType;
    for (const name of ['ddim', 'dpmpp-2m'] as const) {
      it(`${name}, ${label}, 20 steps`, () => {
        const s = createScheduler(name, parseSchedulerConfig(over));
        s.setTimesteps(20);
        const err = maxAbsDiff(sampleExact(s, pred), x0);
        assert.ok(err < 1e-4, `max error ${err}`);
      });
    }
  }

  it('DPM-Solver++ and DDIM on perturbed (Diffusion-DRO) timesteps', () => {
    const cfg = parseSchedulerConfig({ beta_schedule: 'squaredcos_cap_v2', prediction_type: 'v_prediction' });
    const rng = new Random(10);
    for (const name of ['dpmpp-2m', 'ddim'] as const) {
      const s = createScheduler(name, cfg);
      s.setCustomTimesteps(perturbedTimesteps(T, 20, rng));
      const err = maxAbsDiff(sampleExact(s, 'v_prediction'), x0);
      assert.ok(err < 1e-4, `${name} max error ${err}`);
    }
  });

  it('DDPM with seeded noise and an x_t-dependent exact ε ends on x0', () => {
    const cfg = parseSchedulerConfig({ beta_schedule: 'squaredcos_cap_v2', clip_sample: false });
    const s = createScheduler('ddpm', cfg, { rng: new Random(5) });
    s.setTimesteps(50);
    const ab = (t: number): number => s.schedule.alphasCumprod[t];
    let x = new Random(6).randn(64);
    for (const t of s.timesteps) {
      // ε that the single-point data distribution {x0} implies at the current x_t.
      const e = Float32Array.from(x, (v, i) => (v - Math.sqrt(ab(t)) * x0[i]) / Math.sqrt(1 - ab(t)));
      x = s.step(e, t, x);
    }
    assert.ok(maxAbsDiff(x, x0) < 1e-4);
  });

  it('DDPM step: posterior mean plus √β̃·z', () => {
    const cfg = linearCfg({ clip_sample: false }, 'DDPMScheduler');
    const betas = refLinearBetas(0.0001, 0.02, T);
    const s = new DDPMScheduler(cfg);
    s.setTimesteps(10); // leading: 900, 800, …, 0
    const xt = makeX0(8, 2);
    const m = new Random(9).randn(8);
    const z = new Random(10).randn(8);
    const at = refAlphaBar(betas, 500);
    const ap = refAlphaBar(betas, 400);
    const beta = 1 - at / ap;
    const out = s.step(m, 500, xt, { noise: z });
    for (let i = 0; i < 8; i++) {
      const x0h = (xt[i] - Math.sqrt(1 - at) * m[i]) / Math.sqrt(at);
      const mean = ((Math.sqrt(ap) * beta) / (1 - at)) * x0h + ((Math.sqrt(1 - beta) * (1 - ap)) / (1 - at)) * xt[i];
      close(out[i], mean + Math.sqrt(((1 - ap) / (1 - at)) * beta) * z[i], 1e-5);
    }
  });
});

// ---------- config ----------

describe('scheduler config', () => {
  const sd15 = `{
  "_class_name": "PNDMScheduler",
  "_diffusers_version": "0.6.0",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "num_train_timesteps": 1000,
  "set_alpha_to_one": false,
  "skip_prk_steps": true,
  "steps_offset": 1,
  "trained_betas": null,
  "clip_sample": false
}`;

  it('parses diffusers JSON with defaults and keeps unknown keys', () => {
    const c = parseSchedulerConfig(sd15);
    assert.equal(c.beta_schedule, 'scaled_linear');
    assert.equal(c.steps_offset, 1);
    assert.equal(c.set_alpha_to_one, false);
    assert.equal(c.prediction_type, 'epsilon');
    assert.equal(c.rescale_betas_zero_snr, false);
    assert.deepEqual(c.extra, { _diffusers_version: '0.6.0', skip_prk_steps: true });
    assert.ok(c._use_default_values.includes('timestep_spacing'));
  });

  it('missing keys take the defaults of the class that reads them', () => {
    const c = parseSchedulerConfig(sd15);
    assert.equal(new DDIMScheduler(c).config.timestep_spacing, 'leading');
    assert.equal(new DPMSolverMultistepScheduler(c).config.timestep_spacing, 'linspace');
    const explicit = parseSchedulerConfig({ ...JSON.parse(sd15), timestep_spacing: 'trailing' });
    assert.equal(new DPMSolverMultistepScheduler(explicit).config.timestep_spacing, 'trailing');
    const asDpm = parseSchedulerConfig(sd15, 'DPMSolverMultistepScheduler');
    assert.equal(asDpm._class_name, 'DPMSolverMultistepScheduler');
    assert.equal(asDpm.timestep_spacing, 'linspace');
    assert.equal(asDpm.steps_offset, 1);
  });

  it('reads and writes Python-style -Infinity; serializes sorted, diffusers-compatible JSON', () => {
    const text = '{"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -Infinity, "note": "-Infinity"}';
    const c = parseSchedulerConfig(text);
    assert.equal(c.lambda_min_clipped, -Infinity);
    assert.equal(c.extra.note, '-Infinity');
    const out = serializeSchedulerConfig(c);
    assert.ok(out.endsWith('}\n'));
    assert.match(out, /"lambda_min_clipped": -Infinity,/);
    assert.match(out, /"note": "-Infinity"/);
    const keys = [...out.matchAll(/^ {2}"([^"]+)":/gm)].map((mm) => mm[1]);
    assert.deepEqual(keys, [...keys].sort());
    for (const k of ['solver_order', 'algorithm_type', 'timestep_spacing', 'prediction_type', 'final_sigmas_type']) {
      assert.ok(keys.includes(k), k);
    }
    assert.ok(!keys.includes('set_alpha_to_one'));
    const back = parseSchedulerConfig(out);
    for (const k of ['lambda_min_clipped', 'solver_order', 'timestep_spacing', 'beta_schedule', 'final_sigmas_type'] as const) {
      assert.deepEqual(back[k], c[k]);
    }
    assert.deepEqual(back._use_default_values.filter((k) => !['clip_sample', 'clip_sample_range', 'set_alpha_to_one'].includes(k)), []);
  });

  it('round-trips a DDIM config', () => {
    const c = makeSchedulerConfig({ beta_schedule: 'squaredcos_cap_v2', prediction_type: 'v_prediction', timestep_spacing: 'trailing' }, 'DDIMScheduler');
    const j = JSON.parse(serializeSchedulerConfig(c)) as Record<string, unknown>;
    assert.equal(j._class_name, 'DDIMScheduler');
    assert.equal(j.set_alpha_to_one, true);
    assert.equal(j.clip_sample, true);
    assert.equal(j.trained_betas, null);
    assert.ok(!('solver_order' in j));
    const back = parseSchedulerConfig(j);
    assert.deepEqual({ ...back, _use_default_values: [] }, { ...c, _use_default_values: [] });
  });

  it('rejects invalid values and unsupported options', () => {
    assert.throws(() => parseSchedulerConfig({ beta_schedule: 'sigmoidish' }));
    assert.throws(() => parseSchedulerConfig({ num_train_timesteps: 10.5 }));
    assert.throws(() => parseSchedulerConfig({ clip_sample: 'yes' }));
    assert.throws(() => new DPMSolverMultistepScheduler(parseSchedulerConfig({ use_karras_sigmas: true })));
    assert.throws(() => new DPMSolverMultistepScheduler(parseSchedulerConfig({ solver_order: 3 })));
    assert.throws(() => new DDIMScheduler(parseSchedulerConfig({ thresholding: true })));
  });

  it('createScheduler picks the class and forces DPM-Solver++ order 2 for dpmpp-2m', () => {
    const c = parseSchedulerConfig({ _class_name: 'DPMSolverMultistepScheduler', solver_order: 1 });
    const s = createScheduler('dpmpp-2m', c);
    assert.ok(s instanceof DPMSolverMultistepScheduler);
    assert.equal(s.config.solver_order, 2);
    assert.equal(s.config.algorithm_type, 'dpmsolver++');
    assert.ok(createScheduler('ddim', c) instanceof DDIMScheduler);
    assert.ok(createScheduler('ddpm', c) instanceof DDPMScheduler);
    assert.equal(createScheduler('ddim', c).initNoiseSigma, 1);
  });
});
