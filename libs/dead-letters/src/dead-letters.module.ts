import { Module } from '@nestjs/common';
import { ErasureModule } from '@vh/erasure';
import { DeadLetters } from './dead-letters';
import { RedriveRefusals } from './redrive-refusals';

/** Needs StorageModule (the erasure ledger and profile keys, read by RedriveRefusals). */
@Module({ imports: [ErasureModule], providers: [DeadLetters, RedriveRefusals], exports: [DeadLetters] })
export class DeadLettersModule {}
