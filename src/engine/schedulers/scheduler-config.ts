/**
 * Scheduler configuration with the key names and semantics of diffusers' `scheduler_config.json`.
 *
 * Keys absent from the source JSON take the defaults of the scheduler class that reads them, as in
 * diffusers (`_use_default_values`): DDIM reads a missing `timestep_spacing` as "leading", DPM-Solver
 * and Euler as "linspace"; PNDM reads a missing `set_alpha_to_one` as false, DDIM as true. Unknown
 * keys are kept verbatim in `extra` (`skip_prk_steps`, `interpolation_type`, `use_karras_sigmas`, …)
 * so a config survives a round trip; the samplers that own them read them from there.
 */
import type { TimestepSpacing } from './timestep-spacing';

export type BetaScheduleName = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';
export type VarianceType = 'fixed_small' | 'fixed_small_log' | 'fixed_large' | 'fixed_large_log' | 'learned' | 'learned_range';
/** DPM-Solver's algorithms, plus the DEIS / SA-Solver names that their configs carry under the same key. */
export type DpmAlgorithmType = 'dpmsolver++' | 'dpmsolver' | 'sde-dpmsolver++' | 'sde-dpmsolver' | 'deis' | 'data_prediction' | 'noise_prediction';
/** DPM-Solver's solver types, plus DEIS's `logrho` and UniPC's `bh1`/`bh2`. */
export type DpmSolverType = 'midpoint' | 'heun' | 'logrho' | 'bh1' | 'bh2';
export type FinalSigmasType = 'zero' | 'sigma_min';

export const DDPM_CLASS = 'DDPMScheduler';
export const DDIM_CLASS = 'DDIMScheduler';
export const DPM_SOLVER_MULTISTEP_CLASS = 'DPMSolverMultistepScheduler';
export const PNDM_CLASS = 'PNDMScheduler';
export const EULER_DISCRETE_CLASS = 'EulerDiscreteScheduler';
export const EULER_ANCESTRAL_DISCRETE_CLASS = 'EulerAncestralDiscreteScheduler';
export const LMS_DISCRETE_CLASS = 'LMSDiscreteScheduler';

export interface SchedulerConfig {
  _class_name: string;
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: BetaScheduleName;
  /** Explicit betas; when set, they replace beta_start/beta_end/beta_schedule. */
  trained_betas: number[] | null;
  prediction_type: PredictionType;
  timestep_spacing: TimestepSpacing;
  steps_offset: number;
  clip_sample: boolean;
  clip_sample_range: number;
  set_alpha_to_one: boolean;
  rescale_betas_zero_snr: boolean;
  thresholding: boolean;
  dynamic_thresholding_ratio: number;
  sample_max_value: number;
  variance_type: VarianceType | null;
  solver_order: number;
  algorithm_type: DpmAlgorithmType;
  solver_type: DpmSolverType;
  lower_order_final: boolean;
  euler_at_final: boolean;
  final_sigmas_type: FinalSigmasType;
  lambda_min_clipped: number;
  /** Modelled keys that were absent from the source and carry class defaults (not serialized). */
  _use_default_values: string[];
  /** Keys this module does not model (`_diffusers_version`, `skip_prk_steps`, …), kept verbatim. */
  extra: Record<string, unknown>;
}

type ModelledKey = Exclude<keyof SchedulerConfig, '_class_name' | '_use_default_values' | 'extra'>;
/** The modelled diffusers keys with their values (what `makeSchedulerConfig` accepts as overrides). */
export type SchedulerConfigFields = { [K in ModelledKey]: SchedulerConfig[K] };
type Defaults = SchedulerConfigFields;

const BASE_DEFAULTS: Defaults = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null,
  prediction_type: 'epsilon',
  timestep_spacing: 'leading',
  steps_offset: 0,
  clip_sample: true,
  clip_sample_range: 1.0,
  set_alpha_to_one: true,
  rescale_betas_zero_snr: false,
  thresholding: false,
  dynamic_thresholding_ratio: 0.995,
  sample_max_value: 1.0,
  variance_type: 'fixed_small',
  solver_order: 2,
  algorithm_type: 'dpmsolver++',
  solver_type: 'midpoint',
  lower_order_final: true,
  euler_at_final: false,
  final_sigmas_type: 'zero',
  lambda_min_clipped: -Infinity,
};

// Where each diffusers class's constructor defaults differ from BASE_DEFAULTS (diffusers 0.27).
const K_DIFFUSION_DEFAULTS: Partial<Defaults> = { timestep_spacing: 'linspace' };
const K_DIFFUSION_SD_BETAS: Partial<Defaults> = { ...K_DIFFUSION_DEFAULTS, beta_start: 0.00085, beta_end: 0.012 };
const CONSISTENCY_DEFAULTS: Partial<Defaults> = { beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', clip_sample: false };
const CLASS_DEFAULTS: Record<string, Partial<Defaults>> = {
  [DDPM_CLASS]: {},
  [DDIM_CLASS]: {},
  [DPM_SOLVER_MULTISTEP_CLASS]: { timestep_spacing: 'linspace', variance_type: null },
  DPMSolverMultistepInverseScheduler: { timestep_spacing: 'linspace', variance_type: null },
  DPMSolverSinglestepScheduler: { timestep_spacing: 'linspace', variance_type: null, lower_order_final: false },
  DEISMultistepScheduler: { timestep_spacing: 'linspace', algorithm_type: 'deis', solver_type: 'logrho' },
  UniPCMultistepScheduler: { timestep_spacing: 'linspace', solver_type: 'bh2' },
  SASolverScheduler: { timestep_spacing: 'linspace', variance_type: null, algorithm_type: 'data_prediction' },
  [PNDM_CLASS]: { set_alpha_to_one: false },
  [EULER_DISCRETE_CLASS]: K_DIFFUSION_DEFAULTS,
  [EULER_ANCESTRAL_DISCRETE_CLASS]: K_DIFFUSION_DEFAULTS,
  [LMS_DISCRETE_CLASS]: K_DIFFUSION_DEFAULTS,
  HeunDiscreteScheduler: { ...K_DIFFUSION_SD_BETAS, clip_sample: false },
  KDPM2DiscreteScheduler: K_DIFFUSION_SD_BETAS,
  KDPM2AncestralDiscreteScheduler: K_DIFFUSION_SD_BETAS,
  DPMSolverSDEScheduler: K_DIFFUSION_SD_BETAS,
  LCMScheduler: CONSISTENCY_DEFAULTS,
  TCDScheduler: CONSISTENCY_DEFAULTS,
  UnCLIPScheduler: { beta_schedule: 'squaredcos_cap_v2', variance_type: 'fixed_small_log' },
};

/** The keys each class's constructor takes, i.e. what diffusers writes for it. */
const BETA_KEYS: ModelledKey[] = ['num_train_timesteps', 'beta_start', 'beta_end', 'beta_schedule', 'trained_betas', 'prediction_type'];
const SPACING_KEYS: ModelledKey[] = ['timestep_spacing', 'steps_offset'];
const COMMON_KEYS: ModelledKey[] = [
  ...BETA_KEYS,
  'thresholding',
  'dynamic_thresholding_ratio',
  'sample_max_value',
  ...SPACING_KEYS,
  'rescale_betas_zero_snr',
];
const CLASS_KEYS: Record<string, ModelledKey[]> = {
  [DDPM_CLASS]: [...COMMON_KEYS, 'variance_type', 'clip_sample', 'clip_sample_range'],
  [DDIM_CLASS]: [...COMMON_KEYS, 'clip_sample', 'clip_sample_range', 'set_alpha_to_one'],
  [DPM_SOLVER_MULTISTEP_CLASS]: [
    ...COMMON_KEYS,
    'solver_order',
    'algorithm_type',
    'solver_type',
    'lower_order_final',
    'euler_at_final',
    'final_sigmas_type',
    'lambda_min_clipped',
    'variance_type',
  ],
  [PNDM_CLASS]: [...BETA_KEYS, ...SPACING_KEYS, 'set_alpha_to_one'],
  [EULER_DISCRETE_CLASS]: [...BETA_KEYS, ...SPACING_KEYS, 'rescale_betas_zero_snr', 'final_sigmas_type'],
  [EULER_ANCESTRAL_DISCRETE_CLASS]: [...BETA_KEYS, ...SPACING_KEYS, 'rescale_betas_zero_snr'],
  [LMS_DISCRETE_CLASS]: [...BETA_KEYS, ...SPACING_KEYS],
};

const MODELLED_KEYS = Object.keys(BASE_DEFAULTS) as ModelledKey[];

const ENUMS: Partial<Record<ModelledKey, readonly (string | null)[]>> = {
  beta_schedule: ['linear', 'scaled_linear', 'squaredcos_cap_v2'],
  prediction_type: ['epsilon', 'v_prediction', 'sample'],
  timestep_spacing: ['leading', 'trailing', 'linspace'],
  variance_type: ['fixed_small', 'fixed_small_log', 'fixed_large', 'fixed_large_log', 'learned', 'learned_range', null],
  algorithm_type: ['dpmsolver++', 'dpmsolver', 'sde-dpmsolver++', 'sde-dpmsolver', 'deis', 'data_prediction', 'noise_prediction'],
  solver_type: ['midpoint', 'heun', 'logrho', 'bh1', 'bh2'],
  final_sigmas_type: ['zero', 'sigma_min'],
};
const INTEGER_KEYS: ModelledKey[] = ['num_train_timesteps', 'steps_offset', 'solver_order'];

function defaultsFor(className: string): Defaults {
  return { ...BASE_DEFAULTS, ...(CLASS_DEFAULTS[className] ?? {}) };
}

function checkValue(key: ModelledKey, value: unknown): void {
  const fail = (what: string): never => {
    throw new TypeError(`scheduler config "${key}" must be ${what}, got ${JSON.stringify(value)}`);
  };
  const def = BASE_DEFAULTS[key];
  const allowed = ENUMS[key];
  if (allowed) {
    if (!allowed.includes(value as string | null)) fail(`one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`);
  } else if (key === 'trained_betas') {
    if (value !== null && !(Array.isArray(value) && value.every((v) => typeof v === 'number'))) {
      fail('null or an array of numbers');
    }
  } else if (typeof def === 'boolean') {
    if (typeof value !== 'boolean') fail('a boolean');
  } else if (typeof def === 'number') {
    if (typeof value !== 'number' || Number.isNaN(value)) fail('a number');
    if (INTEGER_KEYS.includes(key) && !Number.isInteger(value)) fail('an integer');
  }
}

/**
 * JSON as Python's json module writes it may contain the bare tokens Infinity, -Infinity and NaN
 * (diffusers saves `"lambda_min_clipped": -Infinity`); JSON.parse rejects them, so map them first.
 */
function parsePythonJson(text: string): unknown {
  const marker = '\u0000pyjson:';
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      out += c;
      continue;
    }
    const token = ['-Infinity', 'Infinity', 'NaN'].find((tk) => text.startsWith(tk, i));
    if (token) {
      out += JSON.stringify(marker + token);
      i += token.length - 1;
      continue;
    }
    out += c;
  }
  return JSON.parse(out, (_k, v: unknown) => {
    if (typeof v === 'string' && v.startsWith(marker)) {
      const tk = v.slice(marker.length);
      return tk === 'NaN' ? NaN : tk === 'Infinity' ? Infinity : -Infinity;
    }
    return v;
  });
}

/**
 * Parses a diffusers scheduler config (JSON text or an already-parsed object). `asClass` loads it
 * for that scheduler class (diffusers `Class.from_pretrained`): missing keys take its defaults and
 * it becomes `_class_name`. Otherwise the config's own `_class_name` decides (DDPMScheduler if absent).
 */
export function parseSchedulerConfig(json: string | Record<string, unknown>, asClass?: string): SchedulerConfig {
  const raw = typeof json === 'string' ? parsePythonJson(json) : json;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new TypeError('scheduler config must be a JSON object');
  }
  const obj = raw as Record<string, unknown>;
  const className = asClass ?? (typeof obj._class_name === 'string' ? obj._class_name : DDPM_CLASS);
  const defaults = defaultsFor(className);
  // A config as diffusers holds it in memory lists the keys its class filled in from its own
  // defaults; `from_config` drops them so the reading class's defaults apply (extract_init_dict).
  const filledIn = new Set(Array.isArray(obj._use_default_values) ? obj._use_default_values.filter((k) => typeof k === 'string') : []);
  const given = (key: string): boolean => key in obj && !filledIn.has(key);
  const cfg = { _class_name: className, _use_default_values: [] as string[], extra: {} } as unknown as SchedulerConfig;
  const target = cfg as unknown as Record<string, unknown>;
  for (const key of MODELLED_KEYS) {
    if (given(key)) {
      checkValue(key, obj[key]);
      const v = obj[key];
      target[key] = Array.isArray(v) ? [...(v as number[])] : v;
    } else {
      target[key] = defaults[key];
      cfg._use_default_values.push(key);
    }
  }
  for (const [k, v] of Object.entries(obj)) {
    if (k === '_class_name' || k === '_use_default_values' || !given(k) || (MODELLED_KEYS as string[]).includes(k)) continue;
    cfg.extra[k] = v;
  }
  if (cfg.num_train_timesteps < 1) throw new RangeError('num_train_timesteps must be >= 1');
  if (cfg.trained_betas && cfg.trained_betas.length !== cfg.num_train_timesteps) {
    throw new RangeError('trained_betas must have num_train_timesteps entries');
  }
  return cfg;
}

/**
 * An option kept in `extra` that one sampler owns (`skip_prk_steps`, `interpolation_type`, …):
 * its value in the config, else the reading class's default; anything outside `allowed` is refused.
 */
export function extraOption<T extends string | boolean>(cfg: SchedulerConfig, key: string, fallback: T, allowed: readonly T[]): T {
  const value = key in cfg.extra ? cfg.extra[key] : fallback;
  if (!allowed.includes(value as T)) {
    throw new TypeError(`scheduler config "${key}" must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

/** Keys that still carry their class default (listed as defaulted and not changed since). */
function defaultedKeys(cfg: SchedulerConfig): Set<string> {
  const own = defaultsFor(cfg._class_name);
  const src = cfg as unknown as Record<string, unknown>;
  return new Set(
    cfg._use_default_values.filter((key) => key in own && Object.is(src[key], own[key as ModelledKey])),
  );
}

/**
 * The config as a scheduler class sees it: keys that were defaulted take that class's defaults,
 * explicit keys are kept (diffusers `Scheduler.from_config(other.config)`). A defaulted key whose
 * value no longer equals its default (changed in code after parsing) counts as explicit.
 */
export function configForClass(cfg: SchedulerConfig, className: string): SchedulerConfig {
  const defaults = defaultsFor(className);
  const stillDefault = [...defaultedKeys(cfg)];
  const out: SchedulerConfig = {
    ...cfg,
    _class_name: className,
    trained_betas: cfg.trained_betas ? [...cfg.trained_betas] : null,
    _use_default_values: stillDefault,
    extra: { ...cfg.extra },
  };
  const target = out as unknown as Record<string, unknown>;
  for (const key of stillDefault) target[key] = defaults[key as ModelledKey];
  return out;
}

/** Python's json.dumps spelling of non-finite floats (what diffusers reads back). */
function toPythonJson(value: unknown): string {
  const marker = '\u0000pyjson:';
  const text = JSON.stringify(
    value,
    (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? marker + String(v) : v),
    2,
  );
  return text.replace(/"\\u0000pyjson:(-?Infinity|NaN)"/g, '$1');
}

/**
 * diffusers-compatible `scheduler_config.json` text: sorted keys, 2-space indent, trailing newline,
 * every constructor key of the config's class, plus explicit keys of other classes and `extra`.
 */
export function serializeSchedulerConfig(cfg: SchedulerConfig): string {
  const own = CLASS_KEYS[cfg._class_name];
  const defaulted = defaultedKeys(cfg);
  const src = cfg as unknown as Record<string, unknown>;
  const dict: Record<string, unknown> = { ...cfg.extra, _class_name: cfg._class_name };
  for (const key of MODELLED_KEYS) {
    if ((own && own.includes(key)) || !defaulted.has(key)) dict[key] = src[key];
  }
  const sorted: Record<string, unknown> = {};
  for (const k of Object.keys(dict).sort()) sorted[k] = dict[k];
  return toPythonJson(sorted) + '\n';
}

/** A complete config for `className` from a few overrides (handy for code-built schedulers). */
export function makeSchedulerConfig(overrides: Partial<Defaults> = {}, className = DDPM_CLASS): SchedulerConfig {
  return parseSchedulerConfig({ ...overrides, _class_name: className } as Record<string, unknown>);
}
