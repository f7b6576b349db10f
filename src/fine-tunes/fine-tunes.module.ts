import { Module } from '@nestjs/common';
import { AdaptersModule } from '../adapters/adapters.module';
import { DatasetsModule } from '../datasets/datasets.module';
import { ModelsModule } from '../models/models.module';
import { FineTuneEventsService } from './fine-tune-events.service';
import { FineTuneRecordsModule } from './fine-tune-records.module';
import { FineTunesController } from './fine-tunes.controller';
import { FineTunesService } from './fine-tunes.service';

@Module({
  imports: [FineTuneRecordsModule, DatasetsModule, AdaptersModule, ModelsModule],
  controllers: [FineTunesController],
  providers: [FineTunesService, FineTuneEventsService],
  exports: [FineTuneRecordsModule],
})
export class FineTunesModule {}
