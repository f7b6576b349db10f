import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSafetensorsHeader, SafetensorsError, summarizeLora } from '../../src/adapters/safetensors-header';
import { buildSafetensors, peftLora } from '../support/safetensors';

function summarize(file: Buffer) {
  return summarizeLora(parseSafetensorsHeader(file));
}

describe('safetensors header validation', () => {
  it('reads a diffusers/peft LoRA with rank and alpha from metadata', () => {
    const header = parseSafetensorsHeader(peftLora(4, { format: 'pt', rank: '4', lora_alpha: '8' }));
    assert.equal(header.tensors.length, 4);
    assert.deepEqual(header.metadata, { format: 'pt', rank: '4', lora_alpha: '8' });
    assert.deepEqual(summarizeLora(header), { format: 'peft', modules: 2, rank: 4, alpha: 8 });
  });

  it('reads rank and alpha from diffusers lora_adapter_metadata, or the rank from the tensors', () => {
    const nested = peftLora(8, { lora_adapter_metadata: JSON.stringify({ r: 8, lora_alpha: 16, target_modules: ['to_q'] }) });
    assert.deepEqual(summarize(nested), { format: 'peft', modules: 2, rank: 8, alpha: 16 });
    assert.deepEqual(summarize(peftLora(2)), { format: 'peft', modules: 2, rank: 2, alpha: null });
  });

  it('reads kohya-style keys with alpha scalars', () => {
    const file = buildSafetensors(
      {
        'lora_unet_mid_block_attentions_0_proj_in.lora_down.weight': [4, 16],
        'lora_unet_mid_block_attentions_0_proj_in.lora_up.weight': [16, 4],
        'lora_unet_mid_block_attentions_0_proj_in.alpha': [],
      },
      { ss_network_dim: '4', ss_network_alpha: '2' },
    );
    assert.deepEqual(summarize(file), { format: 'kohya', modules: 1, rank: 4, alpha: 2 });
  });

  it('accepts peft keys carrying an adapter name', () => {
    const file = buildSafetensors({ 'unet.conv_in.lora_A.default.weight': [2, 8], 'unet.conv_in.lora_B.default.weight': [8, 2] });
    assert.equal(summarize(file).modules, 1);
  });

  const broken: [string, () => Buffer, RegExp][] = [
    ['too short', () => Buffer.alloc(4), /shorter than the 8-byte/],
    ['header length past the end', () => { const b = Buffer.alloc(16); b.writeBigUInt64LE(1000n); return b; }, /past the end/],
    ['absurd header length', () => { const b = Buffer.alloc(16); b.writeBigUInt64LE(1n << 40n); return b; }, /out of range/],
    ['header not JSON', () => { const b = Buffer.alloc(12); b.writeBigUInt64LE(4n); b.write('nope', 8); return b; }, /not valid JSON/],
    ['header is an array', () => { const j = Buffer.from('[1,2]'); const l = Buffer.alloc(8); l.writeBigUInt64LE(BigInt(j.length)); return Buffer.concat([l, j]); }, /not a JSON object/],
    ['unknown dtype', () => rewrite(peftLora(), (h) => { h[firstKey(h)].dtype = 'F13'; }), /unknown dtype/],
    ['bad shape', () => rewrite(peftLora(), (h) => { h[firstKey(h)].shape = [4, -1]; }), /invalid shape/],
    ['offsets do not match shape', () => rewrite(peftLora(), (h) => { h[firstKey(h)].shape = [3, 32]; }), /do not match its dtype and shape/],
    ['overlapping tensors', () => rewrite(peftLora(), (h) => { const k = Object.keys(h)[1]; h[k].data_offsets = [0, h[k].data_offsets[1] - h[k].data_offsets[0]]; }), /does not start where/],
    ['trailing bytes', () => Buffer.concat([peftLora(), Buffer.alloc(4)]), /file holds/],
    ['non-string metadata', () => peftLora(4, { rank: 4 as unknown as string }), /__metadata__ must map strings/],
  ];
  for (const [name, make, message] of broken) {
    it(`refuses a file with ${name}`, () => {
      assert.throws(() => summarize(make()), (error: unknown) => error instanceof SafetensorsError && message.test(error.message));
    });
  }

  it('refuses tensors that are not LoRA weights', () => {
    assert.throws(() => summarize(buildSafetensors({ 'unet.conv_in.weight': [8, 4, 3, 3] })), /not a LoRA weight/);
    assert.throws(() => summarize(buildSafetensors({ 'unet.conv_in.lora_A.weight': [2, 8] })), /lacks its up\/B weight/);
    assert.throws(
      () => summarize(buildSafetensors({ 'm.lora_A.weight': [2, 8], 'm.lora_B.weight': [8, 3] })),
      /mismatched ranks 2 and 3/,
    );
    assert.throws(() => summarize(buildSafetensors({})), /no LoRA weights/);
  });
});

type Header = Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>;

function firstKey(header: Header): string {
  return Object.keys(header).find((k) => k !== '__metadata__')!;
}

/** Edits the JSON header of a file, keeping its data section. */
function rewrite(file: Buffer, edit: (header: Header) => void): Buffer {
  const length = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.toString('utf8', 8, 8 + length)) as Header;
  edit(header);
  const json = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([prefix, json, file.subarray(8 + length)]);
}
