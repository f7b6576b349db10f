/** AdamW (decoupled weight decay) over named Float32Array parameters, updated in place. */
export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Parameters exempt from weight decay (norms, biases, embeddings by convention). */
  noDecay?: (name: string) => boolean;
}

export interface AdamWState {
  step: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

export class AdamW {
  state: AdamWState = { step: 0, m: new Map(), v: new Map() };

  constructor(private readonly opts: AdamWOptions) {}

  /** Applies one update; `lr` overrides the base rate (schedules). Returns the pre-clip gradient norm. */
  step(params: Map<string, Float32Array>, grads: Map<string, Float32Array>, opts: { lr?: number; clipNorm?: number } = {}): number {
    const norm = globalNorm(grads);
    const clip = opts.clipNorm && norm > opts.clipNorm ? opts.clipNorm / norm : 1;
    const lr = opts.lr ?? this.opts.lr;
    const b1 = this.opts.beta1 ?? 0.9;
    const b2 = this.opts.beta2 ?? 0.999;
    const eps = this.opts.eps ?? 1e-8;
    const wd = this.opts.weightDecay ?? 0;
    this.state.step += 1;
    const t = this.state.step;
    const c1 = 1 - Math.pow(b1, t);
    const c2 = 1 - Math.pow(b2, t);
    for (const [name, g] of grads) {
      const p = params.get(name);
      if (!p) throw new Error(`gradient for unknown parameter ${name}`);
      let m = this.state.m.get(name);
      let v = this.state.v.get(name);
      if (!m || !v) {
        m = new Float32Array(p.length);
        v = new Float32Array(p.length);
        this.state.m.set(name, m);
        this.state.v.set(name, v);
      }
      const decay = wd > 0 && !this.opts.noDecay?.(name) ? lr * wd : 0;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i] * clip;
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        p[i] -= lr * (m[i] / c1) / (Math.sqrt(v[i] / c2) + eps) + decay * p[i];
      }
    }
    return norm;
  }
}

export function globalNorm(grads: Map<string, Float32Array>): number {
  let s = 0;
  for (const g of grads.values()) for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  return Math.sqrt(s);
}

/** Exponential moving average of parameters (evaluation weights). */
export class Ema {
  readonly shadow = new Map<string, Float32Array>();

  constructor(params: Map<string, Float32Array>, private readonly decay: number) {
    for (const [k, v] of params) this.shadow.set(k, v.slice());
  }

  update(params: Map<string, Float32Array>, step: number): void {
    // Warm-up so early averages are not dominated by the random initialisation.
    const d = Math.min(this.decay, (1 + step) / (10 + step));
    for (const [k, v] of params) {
      const s = this.shadow.get(k)!;
      for (let i = 0; i < v.length; i++) s[i] = d * s[i] + (1 - d) * v[i];
    }
  }
}
