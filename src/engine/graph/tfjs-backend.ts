import type * as tfType from '@tensorflow/tfjs-core';

export type TfjsBackendName = 'tensorflow-gpu' | 'tensorflow' | 'cpu';

export interface TfjsRuntime {
  tf: typeof tfType;
  backend: TfjsBackendName;
}

let cached: Promise<TfjsRuntime> | null = null;

/**
 * Picks the fastest tfjs backend installed: @tensorflow/tfjs-node-gpu, then @tensorflow/tfjs-node
 * (both optional dependencies whose install needs libtensorflow), else the pure-JS CPU backend.
 * TFJS_BACKEND=cpu|tensorflow forces a choice.
 */
export function loadTfjs(): Promise<TfjsRuntime> {
  cached ??= (async () => {
    const forced = process.env.TFJS_BACKEND;
    const candidates: { pkg: string; backend: TfjsBackendName }[] = [
      { pkg: '@tensorflow/tfjs-node-gpu', backend: 'tensorflow-gpu' },
      { pkg: '@tensorflow/tfjs-node', backend: 'tensorflow' },
    ];
    for (const c of candidates) {
      if (forced && forced !== 'tensorflow' && forced !== c.backend) continue;
      try {
        const mod = require(c.pkg) as typeof tfType;
        await mod.setBackend('tensorflow');
        return { tf: mod, backend: c.backend };
      } catch {
        // not installed (its install downloads libtensorflow) — try the next one
      }
    }
    // The union package registers the CPU kernels and every op's gradient.
    const tf = require('@tensorflow/tfjs') as typeof tfType;
    await tf.setBackend('cpu');
    return { tf, backend: 'cpu' };
  })();
  return cached;
}
