import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AdaptersModule } from '../adapters/adapters.module';
import { InferenceModule } from '../inference/inference.module';
import { ModelsModule } from '../models/models.module';
import { GenerationImageEntity } from './generation-image.entity';
import { GenerationEntity } from './generation.entity';
import { GenerationsController } from './generations.controller';
import { GenerationsRepository } from './generations.repository';
import { GenerationsService } from './generations.service';

@Module({
  imports: [TypeOrmModule.forFeature([GenerationEntity, GenerationImageEntity]), AdaptersModule, ModelsModule, InferenceModule],
  controllers: [GenerationsController],
  providers: [GenerationsService, GenerationsRepository],
  exports: [GenerationsService, GenerationsRepository, InferenceModule],
})
export class GenerationsModule {}
