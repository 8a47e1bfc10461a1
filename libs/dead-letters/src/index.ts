export * from './dead-letter-id';
export * from './dead-letters';
export * from './dead-letters.module';
export * from './redrive-refusals';
