export * from './lora-adapter';
export * from './lora-file';
export * from './lora-batch.packer';
export * from './lora-training-factors';
