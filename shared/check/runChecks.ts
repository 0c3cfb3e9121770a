/**
 * `check`: prove every dependency works, changing nothing. Each check says pass or fail, what it
 * found, and for a failure what to do. Later checks still run after an earlier one fails, so one
 * run of `check` lists every problem.
 */
import { daysUntilExpiry } from '../certificateExpiry';
import { AppError, ensureAppError } from '../errors';
import { EXCHANGE_MODULE_INSTALL } from '../exchangeModule';
import type { CertificateSource, ExchangeShell, RunRecords, WorkflowApi } from '../ports';
import type { WaitingStep } from '../domain';
import type { Profile } from '../profiles';
import { wrap } from '../sweep/report';
import type { SweepSettings } from '../sweep/runSweep';

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  hint?: string;
}

export interface CheckDependencies {
  workflowApi: WorkflowApi;
  certificates?: CertificateSource;
  exchange: ExchangeShell;
  /** Where run records live; `check` reads one (absent) record to prove access. */
  runRecords?: RunRecords;
  /** What that storage is, for the check's line (never a connection string). */
  storageDescription?: string;
  now: () => Date;
}

/** A run id no SaaS Manager run has (24 zeros): reading it proves access and finds nothing. */
const PROBE_RUN_ID = '000000000000000000000000';

export async function runChecks(deps: CheckDependencies, settings: SweepSettings): Promise<CheckResult[]> {
  const results: CheckResult[] = [{ name: 'configuration', ok: true, detail: 'all settings parsed' }];
  // The profiles were checked when the configuration was parsed (a bad file fails it, every problem listed).
  if (settings.profiles)
    results.push({ name: 'profiles', ok: true, detail: describeProfiles(settings.profiles) });
  const attempt = async (name: string, body: () => Promise<string>): Promise<void> => {
    try {
      results.push({ name, ok: true, detail: await body() });
    } catch (thrown) {
      const error = ensureAppError(thrown);
      results.push({ name, ok: false, detail: error.message, ...(error.hint ? { hint: error.hint } : {}) });
    }
  };

  for (const workflowName of settings.workflowNames) {
    let step: WaitingStep | undefined;
    await attempt(`workflow '${workflowName}'`, async () => {
      step = await deps.workflowApi.resolveStep(workflowName, settings.stepName, settings.actionName);
      return `workflow ${step.workflowId}, step '${step.stepName}' (${step.stepId})`;
    });
    if (!step) continue;
    const resolved = step;
    await attempt(`action '${settings.actionName}' on '${workflowName}'`, async () => {
      // Actions appear only on waiting runs, so the first waiting run (if any) is the proof.
      for await (const run of deps.workflowApi.listWaitingRuns(resolved)) {
        if (run.signalHref) return `offered by waiting run ${run.runId}`;
        throw new AppError(
          'ActionNotFound',
          `waiting run ${run.runId} does not offer '${settings.actionName}'`,
          {
            hint: `it offers: ${run.availableActions.join(', ') || 'nothing'}; set WORKFLOW_ACTION_NAME to one of them`,
          },
        );
      }
      return 'no run is waiting now, so the action name cannot be verified yet';
    });
  }

  if (settings.exchange.auth === 'certificate') {
    await attempt('certificate', async () => {
      if (!deps.certificates)
        throw new AppError('CertificateSourceMissing', 'no certificate source is configured');
      const certificate = await deps.certificates.load();
      const days = daysUntilExpiry(certificate, deps.now());
      return (
        `${certificate.source}: thumbprint ${certificate.thumbprint}, expires ${certificate.expiresOn.toISOString()} ` +
        `(${days} days)${certificate.version ? `, version ${certificate.version}` : ''}, ${certificate.format.toUpperCase()}`
      );
    });
  } else {
    results.push({ name: 'certificate', ok: true, detail: 'not needed: EXO_AUTH=managedIdentity' });
  }

  const records = deps.runRecords;
  if (records) {
    await attempt('storage', async () => {
      await records.get(PROBE_RUN_ID);
      return `run records readable: ${deps.storageDescription ?? 'configured storage'}`;
    });
  }

  await attempt('PowerShell and Exchange module', async () => {
    try {
      const probe = await deps.exchange.probe();
      if (!probe.exchangeModuleVersion) {
        throw new AppError(
          'ExchangeModuleMissing',
          `PowerShell ${probe.powerShellVersion} at ${probe.executable} cannot find ExchangeOnlineManagement`,
          {
            hint: `install it for the user running the app: ${EXCHANGE_MODULE_INSTALL}`,
          },
        );
      }
      return `PowerShell ${probe.powerShellVersion} (${probe.executable}); ExchangeOnlineManagement ${probe.exchangeModuleVersion} from ${probe.exchangeModulePath ?? 'PSModulePath'}`;
    } finally {
      await deps.exchange.close();
    }
  });
  return results;
}

/** "'Leavers' (profile file x.json): a, b, c; run variables forwardTo=forward_to; 'Other' ...". */
function describeProfiles(profiles: Readonly<Record<string, Profile>>): string {
  return Object.entries(profiles)
    .map(([workflow, profile]) => {
      const variables = Object.entries(profile.variables).map(([role, name]) => `${role}=${name}`);
      const source = profile.source === 'EXO_ACTIONS' ? 'EXO_ACTIONS' : `profile file ${profile.source}`;
      return `'${workflow}' (${source}): ${profile.actions.join(', ')}${variables.length > 0 ? `; run variables ${variables.join(', ')}` : ''}`;
    })
    .join('; ');
}

/** One line per check (wrapped to 100 columns), with `fix:` under each failure. */
export function renderChecks(results: readonly CheckResult[]): string {
  return results
    .flatMap((r) => [
      ...wrap(`${r.ok ? '✔' : '✘'} ${r.name}: ${r.detail}`, '', '    '),
      ...(!r.ok && r.hint ? wrap(`    fix: ${r.hint}`, '', '         ') : []),
    ])
    .join('\n');
}
