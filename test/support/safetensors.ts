/** Writes a real safetensors file (F32 tensors filled with a ramp) for adapter fixtures. */
export function buildSafetensors(tensors: Record<string, number[]>, metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, shape] of Object.entries(tensors)) {
    const count = shape.reduce((a, b) => a * b, 1);
    const data = Buffer.alloc(count * 4);
    for (let i = 0; i < count; i++) data.writeFloatLE(i / 1000, i * 4);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.length] };
    chunks.push(data);
    offset += data.length;
  }
  let json = JSON.stringify(header);
  // Padded with spaces to a multiple of 8, as the reference writer does.
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([length, Buffer.from(json), ...chunks]);
}

/** A small diffusers/peft-style LoRA over two attention projections. */
export function peftLora(rank = 4, metadata?: Record<string, string>): Buffer {
  const base = 'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1';
  return buildSafetensors(
    {
      [`${base}.to_q.lora_A.weight`]: [rank, 32],
      [`${base}.to_q.lora_B.weight`]: [32, rank],
      [`${base}.to_k.lora_A.weight`]: [rank, 32],
      [`${base}.to_k.lora_B.weight`]: [32, rank],
    },
    metadata,
  );
}
