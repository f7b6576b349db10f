import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import { GenerationImageEntity } from './generation-image.entity';
import { GenerationEntity } from './generation.entity';

export type GenerationWithImages = GenerationEntity & { images: GenerationImageEntity[] };

/** Every method takes the tenant id: another tenant's generation simply does not exist. */
@Injectable()
export class GenerationsRepository {
  constructor(
    @InjectRepository(GenerationEntity) private readonly generations: Repository<GenerationEntity>,
    @InjectRepository(GenerationImageEntity) private readonly images: Repository<GenerationImageEntity>,
  ) {}

  /**
   * The generation and its images in one transaction: a generation is never listed without its images.
   * Plain inserts (no read first): on SQLite a transaction that read before its first write fails
   * outright when another process (the worker) commits in between.
   */
  async createWithImages(
    generation: Omit<GenerationEntity, 'createdAt' | 'tenant'>,
    images: Omit<GenerationImageEntity, 'createdAt' | 'generation' | 'tenantId' | 'generationId'>[],
  ): Promise<GenerationWithImages> {
    return this.generations.manager.transaction(async (manager) => {
      const createdAt = new Date();
      const saved = manager.create(GenerationEntity, { ...generation, createdAt });
      await manager.insert(GenerationEntity, saved);
      const rows = images.map((image) => manager.create(GenerationImageEntity, { ...image, tenantId: generation.tenantId, generationId: generation.id, createdAt }));
      if (rows.length > 0) await manager.insert(GenerationImageEntity, rows);
      return { ...saved, images: rows };
    });
  }

  async findForTenant(tenantId: string, id: string): Promise<GenerationWithImages | null> {
    const generation = await this.generations.findOne({ where: { tenantId, id } });
    if (!generation) return null;
    const images = await this.images.find({ where: { tenantId, generationId: id }, order: { imageIndex: 'ASC' } });
    return { ...generation, images };
  }

  async listForTenant(tenantId: string, limit: number): Promise<GenerationWithImages[]> {
    const generations = await this.generations.find({ where: { tenantId }, order: { createdAt: 'DESC', id: 'ASC' }, take: limit });
    if (generations.length === 0) return [];
    const images = await this.images.find({ where: { tenantId, generationId: In(generations.map((g) => g.id)) }, order: { imageIndex: 'ASC' } });
    return generations.map((g) => ({ ...g, images: images.filter((image) => image.generationId === g.id) }));
  }

  async findManyForTenant(tenantId: string, ids: string[]): Promise<GenerationWithImages[]> {
    if (ids.length === 0) return [];
    const found: GenerationWithImages[] = [];
    // Chunked to stay under SQLite's bound-parameter limit.
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const generations = await this.generations.find({ where: { tenantId, id: In(chunk) } });
      const images = await this.images.find({ where: { tenantId, generationId: In(chunk) }, order: { imageIndex: 'ASC' } });
      found.push(...generations.map((g) => ({ ...g, images: images.filter((image) => image.generationId === g.id) })));
    }
    return found;
  }

  findImage(tenantId: string, generationId: string, imageIndex: number): Promise<GenerationImageEntity | null> {
    return this.images.findOne({ where: { tenantId, generationId, imageIndex } });
  }
}
