export * from './figure';
export * from './capacity-model';
export * from './bench-figures';
export * from './default-policy';
export * from './render-plan';
