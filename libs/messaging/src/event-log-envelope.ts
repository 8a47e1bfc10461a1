import { KafkaMessage } from 'kafkajs';
import {
  decodeViewingEvent,
  decodeViewingEventJson,
  describeIssues,
  encodeViewingEvent,
  Validated,
  ViewingEvent,
} from '@vh/domain';

/** What one message of the event log turned out to be, once opened. */
export type OpenedMessage =
  /** `staleKey`: sealed after the erasure's mark with the erased key a collector still had cached (ADR 9). */
  | { kind: 'event'; event: ViewingEvent; staleKey?: true }
  /** Bad input: dead-lettered by ingest with the reason. */
  | { kind: 'invalid'; reason: string }
  /** Sealed with a profile key that was erased (docs/adr/0009): skipped, never dead-lettered. */
  | { kind: 'erased'; profileId: string }
  /**
   * The mark an erasure leaves on the log: everything stored of the profile goes, here in the log's order.
   * `superseded`: a mark of an erasure that an earlier mark already finished (another erasure took it over and
   * covered it; its process, stalled past its lease, published it late): it erases nothing (ADR 9).
   */
  | { kind: 'profile-erased'; profileId: string; erasureId: string; superseded?: true };

/** `offset` (in the message's partition) places it against an erasure's mark: log order, not clocks. */
export type LogMessage = Pick<KafkaMessage, 'key' | 'value' | 'timestamp'> & {
  offset?: string;
  headers?: KafkaMessage['headers'];
};

/** Where a batch lies on the log: given by ingest, which then notes where each erasure's mark lies. */
export interface LogPartition {
  topic: string;
  partition: number;
}

/**
 * Turns messages of the event log into events. A failure to reach what opening needs (the profile keys)
 * throws: that is the cluster's failure, retried, never a reason to dead-letter (invariant 2).
 */
export abstract class EventLogOpener {
  abstract open(messages: readonly LogMessage[], at?: LogPartition): Promise<OpenedMessage[]>;
  /** Drops anything cached about profiles (a rebalance gave this process other partitions). */
  forgetCached(): void {}
}

/**
 * Turns events into message values for the log: a Buffer is opaque binary (published without compression), a
 * string JSON. Throws DependencyUnavailableError when what sealing needs cannot be reached (503, retried).
 */
export abstract class EventPayloadSealer {
  abstract seal(events: readonly ViewingEvent[]): Promise<(string | Buffer)[]>;
}

/** Plain JSON, as every message was before sealing: what other producers may still put on the log. */
export class PlaintextEventLogOpener extends EventLogOpener {
  async open(messages: readonly LogMessage[]): Promise<OpenedMessage[]> {
    return messages.map((message) => openPlaintext(message));
  }
}

export class PlaintextPayloadSealer extends EventPayloadSealer {
  async seal(events: readonly ViewingEvent[]): Promise<string[]> {
    return events.map(encodeViewingEvent);
  }
}

/** A message that is not sealed: decoded as it is (a missing acceptedAt is the log's timestamp). */
export function openPlaintext(message: LogMessage): OpenedMessage {
  return openedOf(decodeViewingEvent(message.value, Number(message.timestamp)));
}

/** As openPlaintext, for a message whose value the caller parsed already (`parsed`: what JSON.parse made of it). */
export function openParsedPlaintext(message: LogMessage, parsed: unknown): OpenedMessage {
  return openedOf(decodeViewingEventJson(parsed, Number(message.timestamp)));
}

function openedOf(decoded: Validated<ViewingEvent>): OpenedMessage {
  return decoded.ok
    ? { kind: 'event', event: decoded.value }
    : { kind: 'invalid', reason: `invalid event: ${describeIssues(decoded.issues)}` };
}
