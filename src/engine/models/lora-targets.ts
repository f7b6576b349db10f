/**
 * Which UNet layers a LoRA adapter adapts. The bundled model has attention only at 8×8 and below;
 * the layers that draw at full resolution (outline width, flat fills) are ResNet convolutions, so a
 * style adapter needs convolution LoRA to reach them.
 *
 * - `attention`: the attention projections (to_q, to_k, to_v, to_out.0 of attn1 and attn2);
 * - `attention+ff`: those and the transformer feed-forward layers (ff.net.0.proj, ff.net.2);
 * - `blocks`: every linear and convolution layer inside the down, mid and up blocks: ResNet conv1,
 *   conv2, conv_shortcut and time_emb_proj, proj_in/proj_out, down/upsamplers and the attention
 *   and feed-forward layers (the default: it reaches full resolution without touching the layers
 *   that read and write pixels directly);
 * - `decoder`: the `blocks` layers of the up blocks only, which render the features the down and mid
 *   blocks computed: the layout stays the base model's while outlines and fills can change;
 * - `all`: `blocks` plus conv_in and conv_out. A LoRA on conv_out writes the prediction itself and
 *   leaves isolated dark and bright pixels on OpenMoji brand adapters (README, Quality).
 */
import { readComponentConfig } from '../io/model-folder';
import { moduleShapeOfWeight, type ModuleShape } from '../lora/lora-adapter';
import { attentionProjectionModules } from './unet-2d-condition.model';
import { parseUNetConfig, type UNetConfig } from './unet-config';
import { unetParamShapes } from './unet-params';

export const LORA_TARGETS = ['attention', 'attention+ff', 'blocks', 'decoder', 'all'] as const;
export type LoraTargets = (typeof LORA_TARGETS)[number];

const FEED_FORWARD = /\.ff\.net\.(0\.proj|2)$/;
/** The timestep MLP is shared by every block: adapting it shifts how the model reads noise levels. */
const EXCLUDED_FROM_ALL = /^time_embedding\./;
const PIXEL_LAYERS = /^conv_(in|out)$/;
const DECODER = /^up_blocks\./;

/** Module names (without `unet.`) for a target set, in forward order. */
export function loraTargetModules(cfg: UNetConfig, targets: LoraTargets): string[] {
  if (targets === 'attention') return attentionProjectionModules(cfg);
  const weights = [...unetParamShapes(cfg)].filter(([name, shape]) => name.endsWith('.weight') && (shape.length === 2 || shape.length === 4));
  const modules = weights.map(([name]) => name.slice(0, -'.weight'.length)).filter((m) => !EXCLUDED_FROM_ALL.test(m));
  if (targets === 'all') return modules;
  if (targets === 'blocks') return modules.filter((m) => !PIXEL_LAYERS.test(m));
  if (targets === 'decoder') return modules.filter((m) => DECODER.test(m));
  if (targets === 'attention+ff') {
    const attention = new Set(attentionProjectionModules(cfg));
    return modules.filter((m) => attention.has(m) || FEED_FORWARD.test(m));
  }
  throw new RangeError(`targets must be one of ${LORA_TARGETS.join(', ')}, got ${JSON.stringify(targets)}`);
}

/** Every layer an adapter may target: what inference graphs take LoRA inputs for. */
export function adaptableModules(cfg: UNetConfig): string[] {
  return loraTargetModules(cfg, 'all');
}

/** Matrix shapes of the modules' weights ([out, in] or [out, c·k², k]). */
export function loraModuleShapes(params: { get(name: string): { shape: number[] } | undefined }, modules: readonly string[]): Map<string, ModuleShape> {
  return new Map(
    modules.map((m) => {
      const w = params.get(`${m}.weight`);
      if (!w) throw new Error(`LoRA module ${m} has no weight`);
      return [m, moduleShapeOfWeight(w.shape)];
    }),
  );
}

/** The adaptable layers of a model folder and their shapes, from its UNet config alone (no weights read). */
export async function readLoraModuleShapes(modelDir: string): Promise<Map<string, ModuleShape>> {
  const cfg = parseUNetConfig(await readComponentConfig(modelDir, 'unet'));
  const shapes = unetParamShapes(cfg);
  return loraModuleShapes({ get: (name) => (shapes.has(name) ? { shape: shapes.get(name)! } : undefined) }, adaptableModules(cfg));
}
