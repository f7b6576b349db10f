/** Mean squared error of each of the n samples laid out back to back in `pred` and `target`. */
export function perSampleMse(pred: Float32Array, target: Float32Array, n: number): Float32Array {
  const len = pred.length / n;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < len; j++) {
      const d = pred[i * len + j] - target[i * len + j];
      s += d * d;
    }
    out[i] = s / len;
  }
  return out;
}
