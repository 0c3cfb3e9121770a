/**
 * Run claims for one machine (CLI, sandbox, a developer's laptop): an exclusive lock file per run.
 * `open(..., 'wx')` is atomic on local file systems, so two processes never both get a claim.
 * A lock left by a crashed process is taken over once its owner is gone or it is older than
 * `staleAfterMs`.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunClaim, RunClaims } from '../ports';

export interface LockFileClaimsOptions {
  directory?: string;
  staleAfterMs?: number;
  now?: () => number;
}

const SAFE_RUN_ID = /^[A-Za-z0-9_-]{1,64}$/;

export class LockFileClaims implements RunClaims {
  readonly directory: string;
  private readonly staleAfterMs: number;
  private readonly now: () => number;

  constructor(options: LockFileClaimsOptions = {}) {
    this.directory = options.directory ?? join(tmpdir(), 'exo-workflow-sync-claims');
    this.staleAfterMs = options.staleAfterMs ?? 60 * 60 * 1000;
    this.now = options.now ?? Date.now;
  }

  async tryClaim(runId: string): Promise<RunClaim | undefined> {
    if (!SAFE_RUN_ID.test(runId)) throw new Error(`refusing to claim a run with an unusual id`);
    // Created on every claim, not once: temp cleaners remove idle folders under a long-lived process.
    await mkdir(this.directory, { recursive: true });
    const path = join(this.directory, `${runId}.lock`);
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        const handle = await open(path, 'wx');
        const token = randomUUID();
        await handle.writeFile(JSON.stringify({ pid: process.pid, at: this.now(), token }));
        await handle.close();
        return {
          // Still ours unless a stale-lock takeover replaced the file.
          confirm: async () => {
            try {
              return (JSON.parse(await readFile(path, 'utf8')) as { token?: string }).token === token;
            } catch {
              return false;
            }
          },
          release: () => unlink(path).catch(() => undefined),
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        if (!(await this.isStale(path))) return undefined;
        await unlink(path).catch(() => undefined);
      }
    }
    return undefined;
  }

  private async isStale(path: string): Promise<boolean> {
    try {
      const holder = JSON.parse(await readFile(path, 'utf8')) as { pid?: number; at?: number };
      if (typeof holder.at === 'number' && this.now() - holder.at > this.staleAfterMs) return true;
      if (typeof holder.pid === 'number' && holder.pid !== process.pid) {
        try {
          process.kill(holder.pid, 0);
          return false;
        } catch (error) {
          return (error as NodeJS.ErrnoException).code === 'ESRCH';
        }
      }
      return false;
    } catch {
      // Half-written by a process that died between open and write: treat as stale.
      return true;
    }
  }
}
