import * as fsp from 'fs/promises';
import * as path from 'path';
import { DEFAULT_PRETRAIN_LR, EMOJI_BASE_RECIPE, EMOJI_BASE_TRAINING_STEPS } from './emoji-base.recipe';
import { readTrainingLog } from './pretrain.trainer';
import { readJsonFileOrNull } from '../io/json-file';
import { DEFAULT_EVAL_SAMPLING, SamplingSettings } from '../eval/style-evaluation';

interface BaseEval {
  conceptTop5: number;
  styleAccuracy: number;
  prompts: number;
}

function paramCount(tensorsBytes: number): string {
  return `${(tensorsBytes / 2 / 1e6).toFixed(1)} M`;
}

/**
 * Writes the bundled model's card (README.md) from what the folder records: the recipe, the
 * training log, the training data lists and the latest base evaluation (eval.json).
 */
export async function writeEmojiBaseModelCard(dir: string): Promise<string> {
  const log = await readTrainingLog(dir);
  const data = await readJsonFileOrNull<{ trainConcepts: string[]; heldOutConcepts: string[]; styles: string[]; imageSize: number; trainImages?: number }>(path.join(dir, 'training_data.json'));
  const evaluation = await readJsonFileOrNull<{ base: BaseEval; measuredAtStep?: number; sampling?: SamplingSettings }>(path.join(dir, 'eval.json'));
  const { steps, guidanceScale } = evaluation?.sampling ?? DEFAULT_EVAL_SAMPLING;
  const sampling = `DPM-Solver++ ${steps} steps, guidance ${guidanceScale}`;
  const unetBytes = (await fsp.stat(path.join(dir, 'unet', 'diffusion_pytorch_model.safetensors'))).size;
  const textBytes = (await fsp.stat(path.join(dir, 'text_encoder', 'model.safetensors'))).size;
  const r = EMOJI_BASE_RECIPE;
  // Older folders lack the image count: every concept then counts once per style.
  const trainImages = data ? (data.trainImages ?? data.trainConcepts.length * data.styles.length) : 0;
  const compute = log
    ? `${log.steps.toLocaleString('en')} of ${log.scheduleSteps.toLocaleString('en')} scheduled steps × batch ${log.batchSize} = ${log.samplesSeen.toLocaleString('en')} samples seen, ${log.trainHours.toFixed(2)} h of training on ${log.host.cpus} CPU cores (${log.host.cpuModel}, ${log.host.engine ?? 'onnxruntime'}), ${log.samplesPerSecond} samples/s on average (the machine was shared with other work for much of it)`
    : 'not recorded';
  const scheduleNote = (log?.scheduleChanges ?? [])
    .map((c) =>
      c.toLr !== undefined && c.toLr !== c.fromLr
        ? ` The schedule was set to ${c.toSteps.toLocaleString('en')} steps and a peak lr of ${c.toLr} at step ${c.atStep.toLocaleString('en')} (it had been ${c.fromSteps.toLocaleString('en')} steps, lr ${c.fromLr}): from there the cosine decay follows the new length and peak.`
        : ` The schedule was set to ${c.toSteps.toLocaleString('en')} steps at step ${c.atStep.toLocaleString('en')} (it had been ${c.fromSteps.toLocaleString('en')}): from there the cosine decay follows the new length.`,
    )
    .join('');
  const focus = log?.focus;
  const focusFlags = focus ? ` --focus-share ${focus.share} --focus-power ${focus.power} --focus-refresh ${focus.refreshEverySteps}` : '';
  const lrFlag = log && log.lr !== DEFAULT_PRETRAIN_LR ? ` --lr ${log.lr}` : '';
  const focusNote = focus
    ? ` From step ${focus.fromStep.toLocaleString('en')} on, ${Math.round(focus.share * 100)} % of every batch was drawn with probability ∝ (x̂0 error)^${focus.power}: each image's squared error of the model's clean-image estimate at t = ${focus.timesteps.join('/')}, re-measured every ${focus.refreshEverySteps.toLocaleString('en')} steps, so that concepts still drawn as blobs are visited more often than shapes learned from many relatives.`
    : '';
  const scores = evaluation
    ? `| metric | value |\n|---|---|\n| concept top-5 (share of ${evaluation.base.prompts} prompts from training concepts, fixed seeds, whose image has the prompted concept in the scorer's top 5) | ${evaluation.base.conceptTop5} |\n| style accuracy (prompted style = the scorer's most likely style) | ${evaluation.base.styleAccuracy} |\n\nMeasured at training step ${evaluation.measuredAtStep ?? '?'}; sampling: ${sampling}.`
    : 'Not measured yet: run `npm run eval -- --base-only --model-card`.';
  const card = `# emoji-base — the bundled base model

A small text-to-image diffusion model that draws 32×32 emoji from short captions such as
\`red heart, love, noto style\`. It is trained from scratch by this project's own pipeline
(\`npm run pretrain\`) on CPU, from emoji images that ship in npm packages, and it is the default base
model of the API, \`npm run generate\` and \`npm run bench\`. It exists so that the service generates
real images on a fresh machine with nothing downloaded, and so that per-tenant style adapters have a
base that draws the prompted thing.

![samples](samples.png)

*Rows: red heart, sun, smiling face, cat face, pizza, deciduous tree, rocket. Columns: Noto style
(two seeds), then Twemoji style (two seeds). ${sampling}, shown at 3×.*

## Architecture

| part | format | details |
|---|---|---|
| \`unet/\` | diffusers \`UNet2DConditionModel\` | pixel space: a ${r.imageSize}×${r.imageSize} RGB image is folded ${r.patchSize}×${r.patchSize} into a ${r.unet.sample_size}×${r.unet.sample_size}×${r.unet.in_channels} sample (\`pixel_unshuffle\`, recorded as \`_sample_space\` in \`model_index.json\`); \`block_out_channels\` ${r.unet.block_out_channels.join('/')}, ${r.unet.down_block_types.join(' → ')}, \`${r.unet.mid_block_type}\`, mirrored up path, ${r.unet.layers_per_block} layer per block, ${r.unet.norm_num_groups} norm groups, ${r.unet.attention_head_dim} heads, cross-attention dim ${r.unet.cross_attention_dim}; ${paramCount(unetBytes)} parameters |
| \`text_encoder/\` | transformers \`CLIPTextModel\` | ${r.text.num_hidden_layers} layers, hidden ${r.text.hidden_size}, ${r.text.num_attention_heads} heads, MLP ${r.text.intermediate_size}, quick-GELU, causal attention, ${r.maxLength} tokens; ${paramCount(textBytes)} parameters |
| \`tokenizer/\` | HF \`tokenizer.json\` (\`PreTrainedTokenizerFast\`) | WordLevel over the caption vocabulary (labels, tags, style words); NFKD, accents stripped, lower case |
| \`scheduler/\` | diffusers \`DPMSolverMultistepScheduler\` | 1000 steps, cosine (\`squaredcos_cap_v2\`) betas, \`v_prediction\`, \`trailing\` spacing, DPM-Solver++(2M) |

Weights are fp16 safetensors (${((unetBytes + textBytes) / 1e6).toFixed(1)} MB in all). The UNet, text
encoder, tokenizer and scheduler follow the diffusers/transformers layouts and names; the 2×2 pixel
(un)shuffle around the UNet is the one step a plain diffusers pipeline does not know about.

## Training data and licences

- **Noto Color Emoji** images from \`emoji-datasource-google\` 16.0.0 — Apache License 2.0, © Google.
- **Twemoji** images from \`emoji-datasource-twitter\` 16.0.0 — CC-BY 4.0. *Twemoji graphics by
  Twitter, Inc and other contributors, licensed under CC-BY 4.0
  (https://creativecommons.org/licenses/by/4.0/); source: https://github.com/jdecked/twemoji. The
  images were flattened onto white and resized to 32×32 for training.*
- Captions from **emojibase-data** 17.0.0 (MIT): the emoji label, up to two tags (each visit drops
  tags at random) and a style phrase (\`noto style\` / \`twemoji style\`).
- **OpenMoji** (CC-BY-SA 4.0) is deliberately *not* in the training data: it is the reference brand
  style for evaluating style fine-tuning.
- Concepts: emoji without skin-tone variants; flags are left out (little signal at 32 px); a
  deterministic 10 % of every group is held out. \`training_data.json\` lists the
  ${data?.trainConcepts.length ?? '?'} training and ${data?.heldOutConcepts.length ?? '?'} held-out concept ids; ${trainImages.toLocaleString('en')} training images.

## Training

\`\`\`bash
npm run pretrain -- --steps ${log?.scheduleSteps ?? EMOJI_BASE_TRAINING_STEPS} --batch ${log?.batchSize ?? 64}${lrFlag}${focusFlags} --resume
\`\`\`

Recipe: v-prediction with cosine betas, Min-SNR-γ loss weighting (γ = 5), 10 % caption dropout for
classifier-free guidance, AdamW (lr ${log?.lr ?? DEFAULT_PRETRAIN_LR}, 500 warm-up steps, cosine decay to 10 %, weight
decay 0.01 on weights), gradient clipping at 1, an EMA of the weights (0.999; the EMA weights are
exported), fixed seeds, checkpoints every 300 steps (\`--resume\` continues exactly; without a
checkpoint it continues from this folder's weights and logged step). Every step runs forward, loss and
gradients as one ONNX Runtime session call (the engine's gradient graphs), on CPU.${focusNote}

Compute so far (\`training_log.json\`): ${compute}.${scheduleNote}

## Scores

Measured with the project's emoji scorer (\`models/emoji-scorer/\`) by
\`npm run eval -- --json --base-only\`:

${scores}

## Limitations

32×32 pixels, one emoji per image on white; it knows the emoji vocabulary and the two styles it was
trained on, nothing else. Unknown words map to \`[UNK]\`. Simple, frequent shapes (suns, faces, cat
faces, red hearts) come out reliably, and a tree is recognisable in the Twemoji style. Detailed
objects (pizza, rocket) remain blobs of the right colours: 4,500 steps of loss-focused sampling at a
doubled peak lr (from step 20,000) raised concept top-5 from 0.695 to 0.727 and turned most red-heart
samples from discs into hearts, but did not make them recognisable; they probably need more capacity
or resolution rather than more steps alone.
`;
  await fsp.writeFile(path.join(dir, 'README.md'), card);
  return card;
}
