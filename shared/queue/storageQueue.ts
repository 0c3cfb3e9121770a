/**
 * The exo-runs queue in Azure Queue Storage (issue 14), in the app's own storage account
 * (AzureWebJobsStorage): the timer puts one message per waiting run, the `processRun` queue trigger
 * takes them (the Functions host receives, deletes and moves poison messages itself). Messages are
 * base64 JSON `{ runId, workflowName }`, what the host's queue trigger decodes by default. This is the
 * only file that imports @azure/storage-queue.
 */
import type { TokenCredential } from '@azure/core-auth';
import { QueueClient, RestError } from '@azure/storage-queue';
import { AppError } from '../errors';
import type { RunQueue } from '../ports';
import type { QueuedRun } from '../domain';

export const RUN_QUEUE = 'exo-runs';
/** The Functions host moves a message here after maxDequeueCount failed attempts. */
export const POISON_QUEUE = `${RUN_QUEUE}-poison`;
/** A message not taken within this long expires (and its run's pending mark goes stale with it). */
export const MESSAGE_TTL_SECONDS = 24 * 3600;

export type StorageQueueOptions =
  | { connectionString: string; queue?: string }
  | { queueServiceUri: string; credential: TokenCredential; queue?: string };

/** A message as received (for a host that plays the Functions runtime, e.g. the tests' driver). */
export interface ReceivedMessage {
  messageId: string;
  popReceipt: string;
  dequeueCount: number;
  /** The decoded JSON body. */
  body: unknown;
}

export class StorageQueue implements RunQueue {
  readonly name: string;
  private readonly client: QueueClient;
  private created?: Promise<void>;

  constructor(options: StorageQueueOptions) {
    this.name = options.queue ?? RUN_QUEUE;
    this.client =
      'connectionString' in options
        ? new QueueClient(options.connectionString, this.name, { retryOptions: { maxTries: 3 } })
        : new QueueClient(`${options.queueServiceUri.replace(/\/+$/, '')}/${this.name}`, options.credential, {
            retryOptions: { maxTries: 3 },
          });
  }

  async send(run: QueuedRun): Promise<void> {
    await this.ready();
    const body = Buffer.from(JSON.stringify({ runId: run.runId, workflowName: run.workflowName })).toString(
      'base64',
    );
    try {
      await this.client.sendMessage(body, { messageTimeToLive: MESSAGE_TTL_SECONDS });
    } catch (error) {
      throw queueError('put a message on', error);
    }
  }

  /** Up to `max` visible messages, each hidden for `visibilitySeconds` (what the Functions host does). */
  async receive(max: number, visibilitySeconds: number): Promise<ReceivedMessage[]> {
    await this.ready();
    const answer = await this.client
      .receiveMessages({ numberOfMessages: max, visibilityTimeout: visibilitySeconds })
      .catch((error: unknown) => Promise.reject(queueError('receive from', error)));
    return answer.receivedMessageItems.map((item) => ({
      messageId: item.messageId,
      popReceipt: item.popReceipt,
      dequeueCount: item.dequeueCount,
      body: decode(item.messageText),
    }));
  }

  async delete(message: ReceivedMessage): Promise<void> {
    await this.client
      .deleteMessage(message.messageId, message.popReceipt)
      .catch((error: unknown) => Promise.reject(queueError('delete from', error)));
  }

  /** Make a message visible again after `seconds` (a failed attempt: host.json's visibilityTimeout). */
  async retryLater(message: ReceivedMessage, seconds: number): Promise<void> {
    await this.client
      .updateMessage(message.messageId, message.popReceipt, undefined, seconds)
      .catch((error: unknown) => Promise.reject(queueError('update a message on', error)));
  }

  /** Put a body as it is (base64 JSON of `body`), e.g. a poisoned message onto the poison queue. */
  async sendBody(body: unknown): Promise<void> {
    await this.ready();
    await this.client
      .sendMessage(Buffer.from(JSON.stringify(body)).toString('base64'), {
        messageTimeToLive: MESSAGE_TTL_SECONDS,
      })
      .catch((error: unknown) => Promise.reject(queueError('put a message on', error)));
  }

  async approximateCount(): Promise<number> {
    await this.ready();
    const properties = await this.client.getProperties();
    return properties.approximateMessagesCount ?? 0;
  }

  private ready(): Promise<void> {
    this.created ??= this.client
      .createIfNotExists()
      .then(() => undefined)
      .catch((error: unknown) => {
        this.created = undefined;
        throw queueError('create', error);
      });
    return this.created;
  }
}

function decode(text: string): unknown {
  try {
    return JSON.parse(Buffer.from(text, 'base64').toString('utf8'));
  } catch {
    return text;
  }
}

/** Status and service code only: storage messages can quote request URLs. */
function queueError(operation: string, error: unknown): AppError {
  const status = error instanceof RestError ? error.statusCode : undefined;
  const code =
    error instanceof RestError && typeof error.code === 'string' ? error.code.slice(0, 60) : undefined;
  const what = [status, code].filter((part) => part !== undefined).join(' ') || 'no answer';
  return new AppError('RunQueueUnavailable', `could not ${operation} the ${RUN_QUEUE} queue (${what})`, {
    hint: 'the app needs Storage Queue Data Contributor on its storage account (AzureWebJobsStorage)',
  });
}
