import { Module } from '@nestjs/common';
import { DeadLetters } from './dead-letters';

@Module({ providers: [DeadLetters], exports: [DeadLetters] })
export class DeadLettersModule {}
