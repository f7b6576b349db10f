export * from './float16';
export * from './safetensors';
export * from './safetensors-dtype';
export * from './safetensors-header';
export * from './model-folder';
export { writeFileAtomic } from './atomic-write';
export { readJsonFileOrNull } from './json-file';
