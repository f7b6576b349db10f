import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { FineTuneRecordsModule } from '../fine-tunes/fine-tune-records.module';
import { ModelsModule } from '../models/models.module';
import { DatasetImageEntity } from './dataset-image.entity';
import { DatasetUploadInterceptor } from './dataset-upload.interceptor';
import { DatasetEntity } from './dataset.entity';
import { DatasetsController } from './datasets.controller';
import { DatasetsRepository } from './datasets.repository';
import { DatasetsService } from './datasets.service';

@Module({
  imports: [TypeOrmModule.forFeature([DatasetEntity, DatasetImageEntity]), FineTuneRecordsModule, ModelsModule],
  controllers: [DatasetsController],
  providers: [DatasetsService, DatasetsRepository, DatasetUploadInterceptor],
  exports: [DatasetsRepository, DatasetsService],
})
export class DatasetsModule {}
