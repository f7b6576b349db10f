import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AdaptersModule } from '../adapters/adapters.module';
import { InferenceService } from '../inference/inference.service';
import { ModelsModule } from '../models/models.module';
import { GenerationBatcher } from './generation-batcher.service';
import { GenerationImageEntity } from './generation-image.entity';
import { GenerationEntity } from './generation.entity';
import { GenerationsController } from './generations.controller';
import { GenerationsRepository } from './generations.repository';
import { GenerationsService } from './generations.service';

@Module({
  imports: [TypeOrmModule.forFeature([GenerationEntity, GenerationImageEntity]), AdaptersModule, ModelsModule],
  controllers: [GenerationsController],
  providers: [GenerationsService, GenerationsRepository, GenerationBatcher, InferenceService],
  exports: [GenerationsService, GenerationsRepository, GenerationBatcher, InferenceService],
})
export class GenerationsModule {}
