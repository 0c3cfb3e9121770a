/**
 * One Functions worker for the queue triggers, in its own process (tests only): a small driver plays
 * the host. It receives up to batchSize messages from exo-runs (hidden meanwhile), and another batch
 * whenever the messages in progress drop to newBatchThreshold (so at most batchSize +
 * newBatchThreshold at once, as the host does), calls the
 * registered handler (functions/runQueue.ts processRun) for each, deletes a message on success,
 * lets it become visible again after `retrySeconds` on failure, and moves it to exo-runs-poison once
 * it has been dequeued maxDequeueCount times (host.json), where runPoisoned handles it.
 *   node test/support/runTypeScript.js test/support/queueWorker.ts <retrySeconds> <idleMs> <deadlineMs>
 * It stops when both queues stayed empty for idleMs (or at deadlineMs), stops its sessions, and
 * prints one JSON line: { pid, handled, failedAttempts, poisoned, peakInProgress, logs }.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvocationContext } from '@azure/functions';
import { processRun, runPoisoned } from '../../functions/runQueue';
import { shutdownWorker } from '../../shared/composition';
import { POISON_QUEUE, RUN_QUEUE, StorageQueue, type ReceivedMessage } from '../../shared/queue/storageQueue';

interface HostQueues {
  batchSize: number;
  newBatchThreshold: number;
  maxDequeueCount: number;
}

const host = JSON.parse(readFileSync(join(__dirname, '..', '..', 'host.json'), 'utf8')) as {
  extensions: { queues: HostQueues };
};
const { batchSize, newBatchThreshold, maxDequeueCount } = host.extensions.queues;
const retrySeconds = Number(process.argv[2] ?? '1');
const idleMs = Number(process.argv[3] ?? '3000');
const deadline = Date.now() + Number(process.argv[4] ?? '120000');
const connectionString = process.env.AzureWebJobsStorage as string;
const runs = new StorageQueue({ connectionString, queue: RUN_QUEUE });
const poison = new StorageQueue({ connectionString, queue: POISON_QUEUE });
const logs: string[] = [];
const summary = { pid: process.pid, handled: 0, failedAttempts: 0, poisoned: 0, peakInProgress: 0, logs };

function context(functionName: string, message: ReceivedMessage): InvocationContext {
  return new InvocationContext({
    functionName,
    invocationId: `${functionName}-${message.messageId}-${message.dequeueCount}`,
    triggerMetadata: { dequeueCount: message.dequeueCount, id: message.messageId },
    logHandler: (level, ...args) => void logs.push(`${level}: ${args.map(String).join(' ')}`),
  });
}

async function handleRun(message: ReceivedMessage): Promise<void> {
  try {
    await processRun(message.body, context('processRun', message));
    summary.handled += 1;
    await runs.delete(message);
  } catch {
    summary.failedAttempts += 1;
    if (message.dequeueCount >= maxDequeueCount) {
      // What the host does: the message moves to <queue>-poison, where runPoisoned picks it up.
      await poison.sendBody(message.body);
      await runs.delete(message);
      summary.poisoned += 1;
    } else {
      await runs.retryLater(message, retrySeconds);
    }
  }
}

async function handlePoisoned(message: ReceivedMessage): Promise<void> {
  // A poisoned message reports its run failed; the attempts are those it had on exo-runs.
  await runPoisoned(message.body, context('runPoisoned', { ...message, dequeueCount: maxDequeueCount }));
  await poison.delete(message);
}

async function main(): Promise<void> {
  const inProgress = new Set<Promise<void>>();
  const start = (work: Promise<void>) => {
    const tracked = work.finally(() => inProgress.delete(tracked));
    inProgress.add(tracked);
    summary.peakInProgress = Math.max(summary.peakInProgress, inProgress.size);
  };
  let idleSince = Date.now();
  while (Date.now() < deadline) {
    if (inProgress.size > newBatchThreshold) {
      await Promise.race(inProgress);
      continue;
    }
    const batch = await runs.receive(batchSize, 60);
    const poisoned = await poison.receive(1, 60);
    if (batch.length === 0 && poisoned.length === 0) {
      // Idle from when the last message in progress ended.
      if (inProgress.size > 0) idleSince = Date.now();
      else if (Date.now() - idleSince > idleMs) break;
      await Promise.race([...inProgress, new Promise((resolve) => setTimeout(resolve, 100))]);
      continue;
    }
    for (const message of batch) start(handleRun(message));
    for (const message of poisoned) start(handlePoisoned(message));
    idleSince = Date.now();
  }
  await Promise.all(inProgress);
}

main()
  .catch((error: unknown) => {
    logs.push(`driver error: ${String(error)}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await shutdownWorker();
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  });
