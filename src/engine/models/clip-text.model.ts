import { Ops, activation, layerNormModule, linearModule, multiHeadAttention } from '../graph/ops';
import { ParamShapes } from './unet-params';

/** The subset of transformers' CLIPTextConfig this engine executes. */
export interface ClipTextConfig {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  max_position_embeddings: number;
  hidden_act: string;
  layer_norm_eps: number;
  projection_dim?: number;
  bos_token_id?: number;
  eos_token_id?: number;
  pad_token_id?: number;
  [extra: string]: unknown;
}

export function parseClipTextConfig(json: Record<string, unknown>): ClipTextConfig {
  return {
    vocab_size: 49408,
    hidden_size: 512,
    intermediate_size: 2048,
    num_hidden_layers: 12,
    num_attention_heads: 8,
    max_position_embeddings: 77,
    hidden_act: 'quick_gelu',
    layer_norm_eps: 1e-5,
    ...(json as Partial<ClipTextConfig>),
  };
}

const MASKED = -1e9;

/**
 * transformers CLIPTextModel → last_hidden_state [N, L, D]. ids [N, L] (integers); attentionMask
 * [N, L] floats (1 keep, 0 pad) or null. Causal self-attention as in CLIP.
 */
export function clipTextForward<T>(ops: Ops<T>, cfg: ClipTextConfig, ids: T, attentionMask: T | null): T {
  const l = ops.shape(ids)[1];
  const d = cfg.hidden_size;
  const tokens = ops.embedding(ids, ops.param('text_model.embeddings.token_embedding.weight'));
  const positions = ops.slice(ops.param('text_model.embeddings.position_embedding.weight'), 0, 0, l);
  let h = ops.add(tokens, ops.reshape(positions, [1, l, d]));

  const causal = new Float32Array(l * l);
  for (let i = 0; i < l; i++) for (let j = i + 1; j < l; j++) causal[i * l + j] = MASKED;
  let bias = ops.constant(causal, [1, 1, l, l]);
  if (attentionMask) {
    // (1 − mask) · MASKED, broadcast over heads and query positions.
    const pad = ops.scale(ops.addScalar(ops.scale(attentionMask, -1), 1), MASKED);
    bias = ops.add(bias, ops.reshape(pad, [-1, 1, 1, l]));
  }

  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const name = `text_model.encoder.layers.${i}`;
    const n1 = layerNormModule(ops, h, `${name}.layer_norm1`, cfg.layer_norm_eps);
    const q = linearModule(ops, n1, `${name}.self_attn.q_proj`);
    const k = linearModule(ops, n1, `${name}.self_attn.k_proj`);
    const v = linearModule(ops, n1, `${name}.self_attn.v_proj`);
    const attn = multiHeadAttention(ops, q, k, v, cfg.num_attention_heads, bias);
    h = ops.add(h, linearModule(ops, attn, `${name}.self_attn.out_proj`));
    const n2 = layerNormModule(ops, h, `${name}.layer_norm2`, cfg.layer_norm_eps);
    const mlp = linearModule(ops, activation(ops, cfg.hidden_act, linearModule(ops, n2, `${name}.mlp.fc1`)), `${name}.mlp.fc2`);
    h = ops.add(h, mlp);
  }
  return layerNormModule(ops, h, 'text_model.final_layer_norm', cfg.layer_norm_eps);
}

export function clipTextParamShapes(cfg: ClipTextConfig): ParamShapes {
  const p: ParamShapes = new Map();
  const d = cfg.hidden_size;
  const linear = (name: string, cin: number, cout: number) => {
    p.set(`${name}.weight`, [cout, cin]);
    p.set(`${name}.bias`, [cout]);
  };
  const norm = (name: string) => {
    p.set(`${name}.weight`, [d]);
    p.set(`${name}.bias`, [d]);
  };
  p.set('text_model.embeddings.token_embedding.weight', [cfg.vocab_size, d]);
  p.set('text_model.embeddings.position_embedding.weight', [cfg.max_position_embeddings, d]);
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const name = `text_model.encoder.layers.${i}`;
    norm(`${name}.layer_norm1`);
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) linear(`${name}.self_attn.${proj}`, d, d);
    norm(`${name}.layer_norm2`);
    linear(`${name}.mlp.fc1`, d, cfg.intermediate_size);
    linear(`${name}.mlp.fc2`, cfg.intermediate_size, d);
  }
  norm('text_model.final_layer_norm');
  return p;
}
