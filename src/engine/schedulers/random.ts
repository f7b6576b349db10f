/**
 * Deterministic, seedable random numbers for noise sampling.
 *
 * Algorithm (fixed, so a seed gives the same numbers on every machine and run):
 * - Generator: xoshiro128** (Blackman & Vigna), 128-bit state, 32-bit outputs.
 * - Seeding: the 64-bit seed is expanded with SplitMix64; its first output gives state words
 *   s0 (low 32 bits) and s1 (high 32 bits), its second output gives s2 and s3.
 * - uniform(): 53-bit double in [0, 1) from two outputs a, b: ((a >>> 5) * 2^26 + (b >>> 6)) / 2^53.
 * - randn(): Box–Muller. u1 = 1 - uniform() (in (0, 1], so log is finite), u2 = uniform();
 *   r = sqrt(-2 ln u1); emits r·cos(2π u2) then r·sin(2π u2). The second value of a pair is kept
 *   for the next call, so randn(a) followed by randn(b) equals randn(a + b).
 *
 * V8 computes Math.log/cos/sin with its own portable fdlibm port, so the normals are bit-identical
 * across operating systems and CPUs for a given Node major version.
 */

const MASK64 = (1n << 64n) - 1n;
const TWO_PI = 2 * Math.PI;

/** Serializable generator state (for resumable training checkpoints). */
export interface RandomState {
  s: [number, number, number, number];
  /** Cached second Box–Muller value, or null. */
  spare: number | null;
}

function splitMix64(state: bigint): { next: bigint; out: bigint } {
  const next = (state + 0x9e3779b97f4a7c15n) & MASK64;
  let z = next;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return { next, out: z ^ (z >> 31n) };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

export class Random {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spare: number | null = null;

  /** `seed`: any integer (negative values and bigints are taken modulo 2^64). */
  constructor(seed: number | bigint = 0) {
    if (typeof seed === 'number' && !Number.isSafeInteger(seed)) {
      throw new RangeError(`seed must be a safe integer, got ${seed}`);
    }
    let st = BigInt.asUintN(64, BigInt(seed));
    const a = splitMix64(st);
    st = a.next;
    const b = splitMix64(st);
    this.setWords(
      Number(a.out & 0xffffffffn),
      Number(a.out >> 32n),
      Number(b.out & 0xffffffffn),
      Number(b.out >> 32n),
    );
  }

  /** A generator with exactly the given xoshiro128** state words (not all zero). */
  static fromState(state: RandomState | [number, number, number, number]): Random {
    const r = new Random(0);
    const st: RandomState = Array.isArray(state) ? { s: state, spare: null } : state;
    r.setWords(st.s[0], st.s[1], st.s[2], st.s[3]);
    r.spare = st.spare;
    return r;
  }

  private setWords(a: number, b: number, c: number, d: number): void {
    this.s0 = a >>> 0;
    this.s1 = b >>> 0;
    this.s2 = c >>> 0;
    this.s3 = d >>> 0;
    // The all-zero state is a fixed point of xoshiro.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  getState(): RandomState {
    return { s: [this.s0, this.s1, this.s2, this.s3], spare: this.spare };
  }

  clone(): Random {
    return Random.fromState(this.getState());
  }

  /** Next raw 32-bit output as an unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    this.s0 >>>= 0;
    this.s1 >>>= 0;
    this.s2 >>>= 0;
    this.s3 >>>= 0;
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  uniform(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** Uniform integer in [lo, hi); rejection sampling keeps it unbiased. */
  randint(lo: number, hi: number): number {
    const span = hi - lo;
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || span <= 0 || span > 0x100000000) {
      throw new RangeError(`randint needs integers lo < hi with hi - lo <= 2^32, got [${lo}, ${hi})`);
    }
    const limit = 0x100000000 - (0x100000000 % span);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return lo + (x % span);
    }
  }

  /** One standard normal value. */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    const u1 = 1 - this.uniform();
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = TWO_PI * u2;
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** Fills `out` with standard normal values and returns it. */
  fillRandn<T extends Float32Array | Float64Array>(out: T): T {
    for (let i = 0; i < out.length; i++) out[i] = this.normal();
    return out;
  }

  /** `n` standard normal values. */
  randn(n: number): Float32Array {
    return this.fillRandn(new Float32Array(n));
  }
}

/** Convenience: `n` standard normals from a fresh generator seeded with `seed`. */
export function randn(n: number, seed: number | bigint): Float32Array {
  return new Random(seed).randn(n);
}
