#!/usr/bin/env node
/**
 * exo-workflow-sync command line: the same sweep use case as the Functions triggers.
 *
 *   exo-workflow-sync sweep [--dry-run] [--json]
 *   exo-workflow-sync rerun <runId> [--dry-run] [--json]
 *   exo-workflow-sync check [--json]
 *   exo-workflow-sync sandbox [--json]
 *
 * Exit codes: 0 nothing failed, 1 some run failed, 2 configuration or setup error (nothing processed).
 * stdout carries the report (with --json exactly one JSON document); progress and logs go to stderr.
 */
import { check, sweep } from '../shared/composition';
import { renderChecks } from '../shared/check/runChecks';
import { loadConfig } from '../shared/config';
import { ensureAppError } from '../shared/errors';
import { streamLogger } from '../shared/logging';
import type { SweepProgress } from '../shared/sweep/runSweep';
import { exitCodeFor, renderReport } from '../shared/sweep/report';

export const USAGE = `Usage: exo-workflow-sync <command> [options]

Commands:
  sweep              process every run waiting at the Signal step
  rerun <runId>      process one run now
  check              verify settings, SaaS Manager, certificate and PowerShell; change nothing
  sandbox            run a real sweep against a built-in simulated tenant (no Azure needed)

Options:
  --dry-run          plan only: ask Exchange what would change, change nothing, signal nothing
  --json             print one JSON report on stdout
  --verbose          more detail on stderr
  --help             this text

Exit codes: 0 success or nothing to do, 1 some run failed, 2 configuration or setup error.
Settings come from environment variables; see the README.`;

export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: NodeJS.ProcessEnv;
}

interface ParsedArgs {
  command?: string;
  positional: string[];
  json: boolean;
  dryRun: boolean;
  verbose: boolean;
  help: boolean;
  unknown: string[];
}

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const parsed: ParsedArgs = {
    positional: [],
    json: false,
    dryRun: false,
    verbose: false,
    help: false,
    unknown: [],
  };
  for (const arg of argv) {
    if (arg === '--json') parsed.json = true;
    else if (arg === '--dry-run') parsed.dryRun = true;
    else if (arg === '--verbose') parsed.verbose = true;
    else if (arg === '--help' || arg === '-h') parsed.help = true;
    else if (arg.startsWith('-')) parsed.unknown.push(arg);
    else if (parsed.command === undefined) parsed.command = arg;
    else parsed.positional.push(arg);
  }
  return parsed;
}

export function progressPrinter(stderr: CliIo['stderr']): (event: SweepProgress) => void {
  return (event) => {
    if (event.kind === 'workflow') stderr.write(`[${event.workflowName}] ${event.waiting} run(s) waiting\n`);
    else if (event.kind === 'run')
      stderr.write(`[${event.workflowName}] run ${event.index} of ${event.total}: ${event.runId}\n`);
    else
      stderr.write(
        `  -> ${event.run.outcome}${event.run.signalled ? ', signalled' : ''}${event.run.error ? `: ${event.run.error}` : ''}\n`,
      );
  };
}

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv);
  if (args.help || args.command === undefined) {
    (args.help ? io.stdout : io.stderr).write(`${USAGE}\n`);
    return args.help ? 0 : 2;
  }
  if (args.unknown.length > 0) {
    io.stderr.write(`error: unknown option ${args.unknown.join(', ')}\n\n${USAGE}\n`);
    return 2;
  }
  const logger = streamLogger(io.stderr, { verbose: args.verbose });
  try {
    switch (args.command) {
      case 'sweep':
      case 'rerun': {
        const runId = args.positional[0];
        if (args.command === 'rerun' && (runId === undefined || !/^[0-9a-f]{24}$/i.test(runId))) {
          io.stderr.write('error: rerun needs a SaaS Manager run id (24 hexadecimal characters)\n');
          return 2;
        }
        const config = loadConfig(io.env);
        const report = await sweep(
          config,
          { logger, env: io.env },
          {
            dryRun: args.dryRun || config.dryRun,
            ...(runId === undefined || args.command !== 'rerun' ? {} : { runId: runId.toLowerCase() }),
            onProgress: progressPrinter(io.stderr),
          },
        );
        io.stdout.write(args.json ? `${JSON.stringify(report)}\n` : `${renderReport(report)}\n`);
        return exitCodeFor(report);
      }
      case 'check': {
        const config = loadConfig(io.env);
        const results = await check(config, { logger, env: io.env });
        io.stdout.write(
          args.json ? `${JSON.stringify({ checks: results })}\n` : `${renderChecks(results)}\n`,
        );
        return results.every((r) => r.ok) ? 0 : 2;
      }
      case 'sandbox': {
        // Loaded on demand: the sandbox brings the simulators, which production runs never need.
        const { runSandbox } = await import('./sandbox.js');
        return await runSandbox({ json: args.json, dryRun: args.dryRun }, io);
      }
      default:
        io.stderr.write(`error: unknown command '${args.command}'\n\n${USAGE}\n`);
        return 2;
    }
  } catch (thrown) {
    const error = ensureAppError(thrown);
    io.stderr.write(`error: ${error.message}\n${error.hint ? `fix: ${error.hint}\n` : ''}`);
    // Run-level failures are in the report; anything thrown means the sweep itself could not run.
    return 2;
  }
}

if (require.main === module) {
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`error: ${ensureAppError(error).message}\n`);
      process.exitCode = 2;
    },
  );
}
