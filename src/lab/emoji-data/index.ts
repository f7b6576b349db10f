export * from './emoji-data.types';
export * from './emoji-caption';
export * from './emoji-catalog';
export * from './emoji-splits';
export * from './emoji-image.loader';
export * from './emoji-dataset.builder';
export * from './image-folder.exporter';
export { createRng, hashString32, shuffleInPlace, type Rng } from './seeded-random.util';
export { resolvePackageDir, requireFromProject } from './package-paths.util';
