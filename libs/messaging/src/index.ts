export * from './kafka-client';
export * from './event-log-topics';
export * from './viewing-event.publisher';
export * from './dead-letter.publisher';
export * from './event-log.consumer';
export * from './profile-event-log.reader';
export * from './event-log-stalls';
export * from './event-log-lag';
