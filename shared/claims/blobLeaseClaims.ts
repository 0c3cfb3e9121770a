/**
 * Run claims across every instance of the Function App: a blob lease per run in the app's own
 * storage (AzureWebJobsStorage). Only one sweep can hold a run's lease; a crashed holder's lease
 * expires by itself after LEASE_SECONDS, and a live holder renews it while it works.
 * This is the only file that imports @azure/storage-blob.
 */
import { BlobServiceClient, RestError, type ContainerClient } from '@azure/storage-blob';
import type { TokenCredential } from '@azure/core-auth';
import type { Logger, RunClaim, RunClaims } from '../ports';

const LEASE_SECONDS = 60;
const RENEW_EVERY_MS = 20_000;
const CONTAINER = 'exo-workflow-sync-claims';
const SAFE_RUN_ID = /^[A-Za-z0-9_-]{1,64}$/;

export type BlobLeaseClaimsOptions =
  | { connectionString: string; logger?: Logger }
  | { blobServiceUri: string; credential: TokenCredential; logger?: Logger };

export class BlobLeaseClaims implements RunClaims {
  private readonly container: ContainerClient;
  private readonly logger?: Logger;
  private containerReady?: Promise<unknown>;

  constructor(options: BlobLeaseClaimsOptions) {
    const service =
      'connectionString' in options
        ? BlobServiceClient.fromConnectionString(options.connectionString, { retryOptions: { maxTries: 3 } })
        : new BlobServiceClient(options.blobServiceUri, options.credential, {
            retryOptions: { maxTries: 3 },
          });
    this.container = service.getContainerClient(CONTAINER);
    if (options.logger) this.logger = options.logger;
  }

  async tryClaim(runId: string): Promise<RunClaim | undefined> {
    if (!SAFE_RUN_ID.test(runId)) throw new Error('refusing to claim a run with an unusual id');
    // A failure (a storage 503) is this run's failure, and the next claim tries again.
    this.containerReady ??= this.container.createIfNotExists().catch((error: unknown) => {
      this.containerReady = undefined;
      throw error;
    });
    await this.containerReady;
    const blob = this.container.getBlockBlobClient(`runs/${runId}`);
    try {
      // Create the marker blob once; never overwrite it (an upload to a leased blob would fail anyway).
      await blob.upload('', 0, { conditions: { ifNoneMatch: '*' } });
    } catch (error) {
      if (!(error instanceof RestError) || (error.statusCode !== 409 && error.statusCode !== 412))
        throw error;
    }
    const lease = blob.getBlobLeaseClient();
    try {
      await lease.acquireLease(LEASE_SECONDS);
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 409) return undefined;
      throw error;
    }
    // A failed renewal means the lease may lapse and another sweep take the run: remember it, so the
    // run stops before its signal (confirm) instead of finding out later.
    let lost = false;
    const renew = () =>
      lease.renewLease().then(
        () => true,
        (error: unknown) => {
          lost = true;
          this.logger?.warn(
            `could not renew the claim on run ${runId}: ${String((error as Error).message).slice(0, 200)}`,
          );
          return false;
        },
      );
    const renewal = setInterval(() => void renew(), RENEW_EVERY_MS);
    renewal.unref();
    return {
      confirm: async () => !lost && (await renew()),
      release: async () => {
        clearInterval(renewal);
        await lease.releaseLease().catch(() => undefined);
      },
    };
  }
}
