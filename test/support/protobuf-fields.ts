import * as assert from 'node:assert/strict';

/** Tiny protobuf reader used to inspect encoded bytes independently of the writer. */
export type Field = { field: number; wire: number; value: bigint | Uint8Array };
function readVarint(b: Uint8Array, pos: number): [bigint, number] {
  let v = 0n;
  let shift = 0n;
  for (;;) {
    const byte = b[pos++];
    v |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) return [v, pos];
    shift += 7n;
  }
}
export function parseFields(b: Uint8Array): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < b.length) {
    const [key, p1] = readVarint(b, pos);
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    pos = p1;
    if (wire === 0) {
      const [v, p2] = readVarint(b, pos);
      out.push({ field, wire, value: v });
      pos = p2;
    } else if (wire === 2) {
      const [len, p2] = readVarint(b, pos);
      const end = p2 + Number(len);
      assert.ok(end <= b.length, 'length-delimited field overruns buffer');
      out.push({ field, wire, value: b.subarray(p2, end) });
      pos = end;
    } else if (wire === 5) {
      out.push({ field, wire, value: b.subarray(pos, pos + 4) });
      pos += 4;
    } else {
      assert.fail(`unexpected wire type ${wire}`);
    }
  }
  return out;
}
