export * from './payload-cipher';
export * from './sealed-message';
export * from './profile-keys';
export * from './profile-keys.schema';
export * from './profile-key.sealer';
export * from './profile-key.opener';
export * from './erasure.module';
export * from './standalone-profile-keys';
