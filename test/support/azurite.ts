/**
 * Azurite's blob service (or blob and table services) on free loopback ports, started per test
 * file and always stopped. Data lives in memory only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';

export interface AzuriteBlob {
  connectionString: string;
  port: number;
  stop(): Promise<void>;
}

const ACCOUNT = 'devstoreaccount1';
// Azurite's well-known development key (public, documented by Microsoft; not a secret).
const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`Azurite exited early with code ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Azurite did not listen on ${port} within ${timeoutMs} ms`);
}

export async function startAzuriteBlob(): Promise<AzuriteBlob> {
  const port = await freePort();
  const bin = join(__dirname, '..', '..', 'node_modules', '.bin', 'azurite-blob');
  const child = spawn(
    bin,
    [
      '--silent',
      '--inMemoryPersistence',
      '--skipApiVersionCheck',
      '--disableTelemetry',
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(port),
    ],
    { stdio: 'ignore' },
  );
  try {
    await waitForPort(port, child, 20_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    port,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${KEY};BlobEndpoint=http://127.0.0.1:${port}/${ACCOUNT};`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

export interface AzuriteStorage {
  /** BlobEndpoint and TableEndpoint: what AzureWebJobsStorage holds locally. */
  connectionString: string;
  stop(): Promise<void>;
}

/** Azurite's blob and table services (run claims and run records), and its queue service when asked, one process each. */
export async function startAzuriteStorage(options: { queue?: boolean } = {}): Promise<AzuriteStorage> {
  const blob = await startAzuriteBlob();
  let table: { port: number; stop(): Promise<void> };
  let queue: { port: number; stop(): Promise<void> } | undefined;
  try {
    table = await startService('azurite-table', ['--tableHost', '127.0.0.1', '--tablePort']);
  } catch (error) {
    await blob.stop();
    throw error;
  }
  if (options.queue) {
    try {
      queue = await startService('azurite-queue', ['--queueHost', '127.0.0.1', '--queuePort']);
    } catch (error) {
      await Promise.all([blob.stop(), table.stop()]);
      throw error;
    }
  }
  return {
    connectionString: `${blob.connectionString}TableEndpoint=http://127.0.0.1:${table.port}/${ACCOUNT};${queue ? `QueueEndpoint=http://127.0.0.1:${queue.port}/${ACCOUNT};` : ''}`,
    stop: async () => {
      await Promise.all([blob.stop(), table.stop(), queue?.stop()]);
    },
  };
}

async function startService(
  binary: string,
  hostAndPortFlags: string[],
): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const bin = join(__dirname, '..', '..', 'node_modules', '.bin', binary);
  const child = spawn(
    bin,
    [
      '--silent',
      '--inMemoryPersistence',
      '--skipApiVersionCheck',
      '--disableTelemetry',
      ...hostAndPortFlags,
      String(port),
    ],
    { stdio: 'ignore' },
  );
  try {
    await waitForPort(port, child, 20_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
