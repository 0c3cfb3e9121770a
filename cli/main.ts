#!/usr/bin/env node
/**
 * exo-workflow-sync command line: the same sweep use case as the Functions triggers.
 *
 *   exo-workflow-sync sweep [--dry-run] [--json]
 *   exo-workflow-sync rerun <runId> [--dry-run] [--json]
 *   exo-workflow-sync check [--json]
 *   exo-workflow-sync sandbox [--json]
 *   exo-workflow-sync history <runId> [--json]
 *   exo-workflow-sync history --since 7d [--json]
 *   exo-workflow-sync verify [--since 30d] [--repair] [--json]
 *   exo-workflow-sync undo <runId> [--dry-run] [--force] [--json]
 *
 * Exit codes: 0 nothing failed, 1 some run failed, 2 configuration or setup error (nothing processed);
 * verify: 0 no drift left, 1 drift found (or a run could not be verified or repaired), 2 setup/usage.
 * stdout carries the report (with --json exactly one JSON document); progress and logs go to stderr.
 */
import { check, recentRuns, runHistory, sweep, undo, verify } from '../shared/composition';
import { renderChecks } from '../shared/check/runChecks';
import { loadConfig, loadHistoryConfig } from '../shared/config';
import { parseSince, renderHistory, renderRunList } from '../shared/journal/historyView';
import { ConfigError, ensureAppError } from '../shared/errors';
import { streamLogger } from '../shared/logging';
import { exitCodeFor, renderReport, wrap } from '../shared/sweep/report';
import { renderVerifyReport, verifyExitCode } from '../shared/verify/verifyReport';
import { renderUndo, undoExitCode } from '../shared/undo/report';
import type { CliIo } from './io';
import { progressPrinter, type ProgressPrinter } from './progress';

export const USAGE = `Usage: exo-workflow-sync <command> [options]

Commands:
  sweep              process every run waiting at the Signal step
  rerun <runId>      process one run now
  check              verify settings, SaaS Manager, certificate and PowerShell; change nothing
  sandbox            run a real sweep against a built-in simulated tenant (no Azure needed)
  history <runId>    the run's journal: every attempt, each action's before-image and result
  history --since 7d runs with journal activity in the last 7 days (d, h or m), last outcome
  verify             re-check completed runs (default: last 30 days) against Exchange and
                     report each drift; --repair re-applies the drifted actions (no signal)
  undo <runId>       restore what the run changed, from its journal (newest change first); never signals

Options:
  --dry-run          plan only: ask Exchange what would change, change nothing, signal nothing
  --json             print one JSON report on stdout
  --since <age>      with history or verify: runs active within this age (e.g. 7d, 12h)
  --repair           with verify: re-apply the actions that drifted, journalled as a repair
  --force            with undo: restore properties someone changed after the run (drift) anyway
  --verbose          more detail on stderr
  --help             this text

Exit codes: 0 success or nothing to do, 1 some run failed, 2 configuration or setup error
(history and undo: 2 for a run the journal does not know; undo: 1 when a step failed; verify:
0 no drift left, 1 drift found or a run could not be verified or repaired).
Settings come from environment variables; see the README.`;

interface ParsedArgs {
  command?: string;
  positional: string[];
  json: boolean;
  dryRun: boolean;
  force: boolean;
  verbose: boolean;
  help: boolean;
  since?: string;
  repair: boolean;
  unknown: string[];
}

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const parsed: ParsedArgs = {
    positional: [],
    json: false,
    dryRun: false,
    force: false,
    verbose: false,
    help: false,
    repair: false,
    unknown: [],
  };
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] as string;
    if (arg === '--since') {
      const value = argv[index + 1];
      if (value === undefined || value.startsWith('-'))
        parsed.unknown.push('--since (needs an age such as 7d)');
      else parsed.since = value;
      index += 1;
    } else if (arg.startsWith('--since=')) parsed.since = arg.slice('--since='.length);
    else if (arg === '--json') parsed.json = true;
    else if (arg === '--dry-run') parsed.dryRun = true;
    else if (arg === '--repair') parsed.repair = true;
    else if (arg === '--force') parsed.force = true;
    else if (arg === '--verbose') parsed.verbose = true;
    else if (arg === '--help' || arg === '-h') parsed.help = true;
    else if (arg.startsWith('-')) parsed.unknown.push(arg);
    else if (parsed.command === undefined) parsed.command = arg;
    else parsed.positional.push(arg);
  }
  return parsed;
}

/** The JSON document a --json call prints when it could not produce its report (exit 2). */
export interface ErrorDocument {
  error: { code: string; message: string; hint: string; problems?: readonly string[] };
}

function errorDocument(
  code: string,
  message: string,
  hint: string,
  problems?: readonly string[],
): ErrorDocument {
  return { error: { code, message, hint, ...(problems ? { problems } : {}) } };
}

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv);
  // Every --json call prints exactly one JSON document on stdout, setup and usage errors included.
  const fail = (document: ErrorDocument, humanText: string): 2 => {
    if (args.json) io.stdout.write(`${JSON.stringify(document)}\n`);
    else io.stderr.write(humanText);
    return 2;
  };
  if (args.help) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args.command === undefined) {
    return fail(
      errorDocument('UsageError', 'no command given', 'run exo-workflow-sync --help'),
      `${USAGE}\n`,
    );
  }
  if (args.unknown.length > 0) {
    const message = `unknown option ${args.unknown.join(', ')}`;
    return fail(
      errorDocument('UsageError', message, 'run exo-workflow-sync --help'),
      `error: ${message}\n\n${USAGE}\n`,
    );
  }
  const logger = streamLogger(io.stderr, { verbose: args.verbose });
  let progress: ProgressPrinter | undefined;
  try {
    switch (args.command) {
      case 'sweep':
      case 'rerun': {
        const runId = args.positional[0];
        if (args.command === 'rerun' && (runId === undefined || !/^[0-9a-f]{24}$/i.test(runId))) {
          const message = 'rerun needs a SaaS Manager run id (24 hexadecimal characters)';
          return fail(
            errorDocument(
              'UsageError',
              message,
              'take the id from the run in SaaS Manager or from the report',
            ),
            `error: ${message}\n`,
          );
        }
        const config = loadConfig(io.env);
        progress = progressPrinter(io.stderr);
        const report = await sweep(
          config,
          { logger, env: io.env },
          {
            dryRun: args.dryRun || config.dryRun,
            ...(runId === undefined || args.command !== 'rerun' ? {} : { runId: runId.toLowerCase() }),
            onProgress: progress,
          },
        );
        progress.finish();
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
      case 'history': {
        const config = loadHistoryConfig(io.env);
        const runId = args.positional[0];
        if (args.since !== undefined || runId === undefined) {
          const ms = args.since === undefined ? undefined : parseSince(args.since);
          if (ms === undefined || runId !== undefined) {
            const message = 'history needs a run id, or --since with an age such as 7d, 12h or 30m';
            return fail(
              errorDocument('UsageError', message, 'run exo-workflow-sync --help'),
              `error: ${message}\n`,
            );
          }
          const since = new Date(Date.now() - ms);
          const runs = await recentRuns(config, since);
          io.stdout.write(
            args.json
              ? `${JSON.stringify({ since: since.toISOString(), runs })}\n`
              : `${renderRunList(runs, since)}\n`,
          );
          return 0;
        }
        if (!/^[A-Za-z0-9_-]{1,64}$/.test(runId)) {
          const message = 'history needs a SaaS Manager run id';
          return fail(
            errorDocument(
              'UsageError',
              message,
              'take the id from the run in SaaS Manager or from the report',
            ),
            `error: ${message}\n`,
          );
        }
        const history = await runHistory(config, runId.toLowerCase());
        if (!history) {
          const message = `the journal knows no run ${runId}`;
          return fail(
            errorDocument(
              'RunNotFound',
              message,
              'check the id, the storage (AzureWebJobsStorage or EXO_RUN_RECORDS_DIR) and EXO_JOURNAL_DAYS',
            ),
            `error: ${message}\n`,
          );
        }
        io.stdout.write(args.json ? `${JSON.stringify(history)}\n` : `${renderHistory(history)}\n`);
        return 0;
      }
      case 'verify': {
        const ms = parseSince(args.since ?? '30d');
        if (ms === undefined || args.positional.length > 0 || args.dryRun) {
          const message = args.dryRun
            ? 'verify changes nothing unless --repair is given; --dry-run does not apply'
            : 'verify takes no run id; --since needs an age such as 30d, 12h or 30m';
          return fail(
            errorDocument('UsageError', message, 'run exo-workflow-sync --help'),
            `error: ${message}\n`,
          );
        }
        const config = loadConfig(io.env);
        if (args.repair && config.dryRun) {
          const message = 'DRY_RUN is true, so verify --repair may not change Exchange';
          return fail(
            errorDocument('UsageError', message, 'run verify without --repair, or unset DRY_RUN'),
            `error: ${message}\n`,
          );
        }
        const report = await verify(
          config,
          { logger, env: io.env },
          { since: new Date(Date.now() - ms), repair: args.repair },
        );
        io.stdout.write(args.json ? `${JSON.stringify(report)}\n` : `${renderVerifyReport(report)}\n`);
        return verifyExitCode(report);
      }
      case 'undo': {
        const runId = args.positional[0];
        if (runId === undefined || !/^(undo-)?[0-9a-f]{24}$/i.test(runId)) {
          const message = 'undo needs a SaaS Manager run id (24 hexadecimal characters)';
          return fail(
            errorDocument(
              'UsageError',
              message,
              'take the id from the run in SaaS Manager, the report or history --since',
            ),
            `error: ${message}\n`,
          );
        }
        const config = loadConfig(io.env);
        const report = await undo(
          config,
          { logger, env: io.env },
          { runId: runId.toLowerCase(), dryRun: args.dryRun || config.dryRun, force: args.force },
        );
        io.stdout.write(args.json ? `${JSON.stringify(report)}\n` : `${renderUndo(report)}\n`);
        return undoExitCode(report);
      }
      case 'sandbox': {
        // Loaded on demand: the sandbox brings the simulators, which production runs never need.
        const { runSandbox } = await import('./sandbox.js');
        if (!args.json && io.env.npm_config_json === 'true' && io.env.npm_lifecycle_event === 'sandbox') {
          io.stderr.write("note: npm took --json for itself; for JSON run 'npm run -s sandbox -- --json'\n");
        }
        return await runSandbox({ json: args.json, dryRun: args.dryRun }, io);
      }
      default: {
        const message = `unknown command '${args.command}'`;
        return fail(
          errorDocument('UsageError', message, 'run exo-workflow-sync --help'),
          `error: ${message}\n\n${USAGE}\n`,
        );
      }
    }
  } catch (thrown) {
    progress?.finish();
    const error = ensureAppError(thrown);
    // Run-level failures are in the report; anything thrown means the sweep itself could not run.
    return fail(
      errorDocument(
        error.code,
        error.message,
        error.hint ?? 'see the README (Configuration) and run exo-workflow-sync check',
        error instanceof ConfigError ? error.problems : undefined,
      ),
      [
        ...`error: ${error.message}`.split('\n').flatMap((line) => wrap(line, '', '      ')),
        ...(error.hint ? wrap(`fix: ${error.hint}`, '', '     ') : []),
        '',
      ].join('\n'),
    );
  }
}

if (require.main === module) {
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then(
    (code) => {
      process.exitCode = code;
    },
    (thrown: unknown) => {
      const error = ensureAppError(thrown);
      if (process.argv.includes('--json'))
        process.stdout.write(
          `${JSON.stringify(errorDocument(error.code, error.message, error.hint ?? ''))}\n`,
        );
      else process.stderr.write(`error: ${error.message}\n`);
      process.exitCode = 2;
    },
  );
}
