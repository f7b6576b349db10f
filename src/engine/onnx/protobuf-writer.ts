/**
 * Minimal protobuf wire-format writer.
 *
 * Output is kept as a list of chunks: small scalar writes go into a growable
 * scratch buffer, while large byte fields (tensor raw_data) are referenced
 * as-is. Child messages are built in their own writer and spliced into the
 * parent by reference, so nested length prefixes never force re-copying.
 * `finish()` allocates the result once and copies every byte exactly once.
 *
 * Referenced byte arrays must not be mutated until `finish()` returns.
 */

export enum WireType {
  Varint = 0,
  Fixed64 = 1,
  LengthDelimited = 2,
  Fixed32 = 5,
}

/** Byte fields at least this long are referenced instead of copied into the scratch buffer. */
const REFERENCE_THRESHOLD = 512;
const INITIAL_SCRATCH = 64;
const TWO_POW_32 = 0x1_0000_0000;
const UINT64_MASK = (1n << 64n) - 1n;

/** Protobuf parsers reject messages of 2 GiB or more. */
export const MAX_MESSAGE_BYTES = 0x7fff_ffff;

/** Number of bytes `writeVarint` uses for a value. */
export function varintSize(value: number | bigint): number {
  if (typeof value === 'number' && value >= 0 && value < TWO_POW_32 && Number.isInteger(value)) {
    if (value < 0x80) return 1;
    if (value < 0x4000) return 2;
    if (value < 0x20_0000) return 3;
    if (value < 0x1000_0000) return 4;
    return 5;
  }
  let v = toUint64(value);
  let n = 1;
  while (v >= 0x80n) {
    v >>= 7n;
    n++;
  }
  return n;
}

/** Two's-complement 64-bit view of an integer, as protobuf int64 varints require. */
function toUint64(value: number | bigint): bigint {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new RangeError(`varint value must be a safe integer, got ${value}`);
    value = BigInt(value);
  }
  if (value < -(1n << 63n) || value > UINT64_MASK) throw new RangeError(`varint value out of 64-bit range: ${value}`);
  return value & UINT64_MASK;
}

const utf8 = (s: string): Uint8Array => Buffer.from(s, 'utf8');

export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  /** Bytes held in `chunks`. */
  private chunkBytes = 0;
  private scratch: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private readonly view4 = new DataView(new ArrayBuffer(4));

  /** Total encoded length so far. */
  get length(): number {
    return this.chunkBytes + this.pos;
  }

  private ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.scratch.length) return;
    const next = new Uint8Array(Math.max(need, this.scratch.length * 2, INITIAL_SCRATCH));
    next.set(this.scratch.subarray(0, this.pos));
    this.scratch = next;
  }

  /** Moves pending scratch bytes into the chunk list; the scratch buffer is then abandoned, not reused, since the chunk still points into it. */
  private flushScratch(): void {
    if (this.pos === 0) return;
    this.chunks.push(this.scratch.subarray(0, this.pos));
    this.chunkBytes += this.pos;
    this.scratch = new Uint8Array(0);
    this.pos = 0;
  }

  private appendReference(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.flushScratch();
    this.chunks.push(bytes);
    this.chunkBytes += bytes.length;
  }

  private appendCopy(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.scratch.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  // ---- raw primitives (no tag) ----

  /** Unsigned/int64 varint. Negative values use the 10-byte two's-complement form. */
  writeVarint(value: number | bigint): this {
    if (typeof value === 'number' && value >= 0 && value < TWO_POW_32 && Number.isInteger(value)) {
      this.ensure(5);
      // `>>> 7` keeps the fast path in 32-bit unsigned arithmetic.
      let v = value >>> 0;
      while (v >= 0x80) {
        this.scratch[this.pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      this.scratch[this.pos++] = v;
      return this;
    }
    let v = toUint64(value);
    this.ensure(10);
    while (v >= 0x80n) {
      this.scratch[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.scratch[this.pos++] = Number(v);
    return this;
  }

  writeFloat32Raw(value: number): this {
    this.view4.setFloat32(0, value, true);
    this.ensure(4);
    for (let i = 0; i < 4; i++) this.scratch[this.pos++] = this.view4.getUint8(i);
    return this;
  }

  writeTag(field: number, wire: WireType): this {
    if (!Number.isInteger(field) || field < 1 || field > 0x1fff_ffff) throw new RangeError(`bad field number ${field}`);
    // field << 3 can exceed int32 range, so multiply instead of shifting.
    return this.writeVarint(field * 8 + wire);
  }

  // ---- tagged fields ----

  /** int32/int64/uint64/enum/bool field. */
  int(field: number, value: number | bigint): this {
    return this.writeTag(field, WireType.Varint).writeVarint(value);
  }

  float(field: number, value: number): this {
    return this.writeTag(field, WireType.Fixed32).writeFloat32Raw(value);
  }

  /** bytes field; large payloads are referenced, not copied, until `finish()`. */
  bytes(field: number, data: Uint8Array): this {
    this.writeTag(field, WireType.LengthDelimited).writeVarint(data.length);
    if (data.length >= REFERENCE_THRESHOLD) this.appendReference(data);
    else this.appendCopy(data);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, utf8(value));
  }

  /** Embedded message; `child` is consumed and must not be written to afterwards. */
  message(field: number, child: ProtoWriter): this {
    this.writeTag(field, WireType.LengthDelimited).writeVarint(child.length);
    child.flushScratch();
    if (child.chunks.length > 0) {
      this.flushScratch();
      for (const c of child.chunks) this.chunks.push(c);
      this.chunkBytes += child.chunkBytes;
    }
    return this;
  }

  /** Packed repeated int64 (also used for int32/enum lists). Nothing is written for an empty list. */
  packedInt64(field: number, values: ArrayLike<number | bigint>): this {
    if (values.length === 0) return this;
    let size = 0;
    for (let i = 0; i < values.length; i++) size += varintSize(values[i]);
    this.writeTag(field, WireType.LengthDelimited).writeVarint(size);
    for (let i = 0; i < values.length; i++) this.writeVarint(values[i]);
    return this;
  }

  /** Packed repeated float. Nothing is written for an empty list. */
  packedFloat(field: number, values: ArrayLike<number>): this {
    if (values.length === 0) return this;
    this.writeTag(field, WireType.LengthDelimited).writeVarint(values.length * 4);
    for (let i = 0; i < values.length; i++) this.writeFloat32Raw(values[i]);
    return this;
  }

  /** Concatenates everything into one freshly allocated array. */
  finish(): Uint8Array {
    const total = this.length;
    if (total > MAX_MESSAGE_BYTES) {
      throw new RangeError(`encoded message is ${total} bytes; protobuf messages must stay below 2 GiB`);
    }
    const out = new Uint8Array(total);
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    out.set(this.scratch.subarray(0, this.pos), offset);
    return out;
  }
}
