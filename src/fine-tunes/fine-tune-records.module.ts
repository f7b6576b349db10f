import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { FineTuneEntity } from './fine-tune.entity';
import { FineTunesRepository } from './fine-tunes.repository';

/**
 * The fine-tune rows, for modules that ask about jobs without running them: datasets (is one still
 * in use), quotas (active jobs), metrics. The fine-tunes feature itself builds on it.
 */
@Module({
  imports: [TypeOrmModule.forFeature([FineTuneEntity])],
  providers: [FineTunesRepository],
  exports: [FineTunesRepository],
})
export class FineTuneRecordsModule {}
