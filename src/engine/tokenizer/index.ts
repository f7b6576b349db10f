export * from './tokenizer.types';
export * from './tokenizer';
export * from './tokenizer.loader';
export * from './word-level.tokenizer';
export * from './clip-bpe.tokenizer';
export { byteLevelEncode, byteLevelDecode, BYTE_TO_CHAR } from './byte-level';
