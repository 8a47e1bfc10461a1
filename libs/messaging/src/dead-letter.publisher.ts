import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { IHeaders, Kafka, Partitioners, Producer } from 'kafkajs';
import { AppConfig } from '@vh/config';
import { createKafka, HEADERS } from './kafka-client';

/** A message from the event log that can never be processed, and why. */
export interface DeadLetter {
  sourceTopic: string;
  sourcePartition: number;
  sourceOffset: string;
  /** The source message's log timestamp (epoch ms, as kafkajs gives it). */
  sourceTimestamp?: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: IHeaders;
  reason: string;
}

/** Where unprocessable messages go. A port, so that a replay can count them instead of publishing twice. */
export abstract class DeadLetterSink {
  abstract publish(letters: readonly DeadLetter[]): Promise<void>;
}

/** Moves unprocessable messages aside, keeping the original bytes, the reason and the source offset. */
@Injectable()
export class DeadLetterPublisher extends DeadLetterSink implements OnApplicationShutdown {
  private readonly kafka: Kafka;
  private producer: Producer | null = null;

  constructor(private readonly config: AppConfig) {
    super();
    this.kafka = createKafka(config.kafka, 'dead-letter');
  }

  async publish(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    if (!this.producer) {
      const producer = this.kafka.producer({
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await producer.connect();
      this.producer = producer;
    }
    await this.producer.send({
      topic: this.config.kafka.deadLetterTopic,
      acks: -1,
      messages: letters.map((letter) => ({
        key: letter.key,
        value: letter.value,
        headers: {
          ...letter.headers,
          [HEADERS.deadLetterReason]: letter.reason.slice(0, 2_000),
          [HEADERS.sourceTopic]: letter.sourceTopic,
          [HEADERS.sourcePartition]: String(letter.sourcePartition),
          [HEADERS.sourceOffset]: letter.sourceOffset,
          ...(letter.sourceTimestamp ? { [HEADERS.sourceTimestamp]: letter.sourceTimestamp } : {}),
        },
      })),
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.producer?.disconnect().catch(() => undefined);
  }
}
