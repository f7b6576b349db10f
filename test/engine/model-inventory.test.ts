import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { parseUNetConfig } from '../../src/engine/models/unet-config';
import { unetParamShapes } from '../../src/engine/models/unet-params';
import { clipTextParamShapes, parseClipTextConfig } from '../../src/engine/models/clip-text.model';

const count = (m: Map<string, number[]>) => [...m.values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);

// Published sizes: the SD-1.5 UNet has 859,520,964 parameters in 686 tensors, SD-2.1's 865,910,724;
// CLIP ViT-L/14's text tower (SD-1.5's text encoder) 123,060,480 in 196 parameter tensors.
test('SD-1.5 UNet config yields the published parameter inventory under diffusers names', () => {
  const p = unetParamShapes(parseUNetConfig({ cross_attention_dim: 768, sample_size: 64 }));
  assert.equal(p.size, 686);
  assert.equal(count(p), 859_520_964);
  assert.deepEqual(p.get('conv_in.weight'), [320, 4, 3, 3]);
  assert.deepEqual(p.get('time_embedding.linear_1.weight'), [1280, 320]);
  assert.deepEqual(p.get('down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight'), [320, 768]);
  assert.deepEqual(p.get('down_blocks.0.attentions.0.transformer_blocks.0.ff.net.0.proj.weight'), [2560, 320]);
  assert.deepEqual(p.get('mid_block.attentions.0.proj_in.weight'), [1280, 1280, 1, 1]);
  assert.deepEqual(p.get('up_blocks.3.resnets.2.conv_shortcut.weight'), [320, 640, 1, 1]);
  assert.deepEqual(p.get('up_blocks.0.upsamplers.0.conv.weight'), [1280, 1280, 3, 3]);
  assert.equal(p.has('down_blocks.3.downsamplers.0.conv.weight'), false);
});

test('SD-2.1 UNet config (linear projections, per-block heads) yields the published inventory', () => {
  const p = unetParamShapes(parseUNetConfig({ cross_attention_dim: 1024, sample_size: 96, attention_head_dim: [5, 10, 20, 20], use_linear_projection: true }));
  assert.equal(count(p), 865_910_724);
  assert.deepEqual(p.get('down_blocks.1.attentions.1.proj_in.weight'), [640, 640]);
});

test('CLIP ViT-L/14 text config yields the published inventory under transformers names', () => {
  const p = clipTextParamShapes(parseClipTextConfig({ hidden_size: 768, intermediate_size: 3072, num_attention_heads: 12, num_hidden_layers: 12 }));
  assert.equal(p.size, 196);
  assert.equal(count(p), 123_060_480);
  assert.deepEqual(p.get('text_model.embeddings.token_embedding.weight'), [49408, 768]);
  assert.deepEqual(p.get('text_model.encoder.layers.11.mlp.fc1.weight'), [3072, 768]);
  assert.deepEqual(p.get('text_model.final_layer_norm.bias'), [768]);
});
