/**
 * docs/deploy.md leads a new admin safely: `check` before `azd up` and after the first deploy, the
 * managed-identity path complete and dry run first, a KQL query that counts each run once against
 * the lines the app really logs, key files kept out of the repo and the image, a cost figure with
 * its date and source, and a live log command for the first dry run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type RunReport, type SweepReport, logReport } from '../../shared/sweep/report';
import type { Logger } from '../../shared/ports';

const ROOT = join(__dirname, '..', '..');
const guide = readFileSync(join(ROOT, 'docs', 'deploy.md'), 'utf8');

function section(title: RegExp): string {
  const start = guide.search(title);
  if (start < 0) throw new Error(`docs/deploy.md has no section ${title}`);
  const next = guide.indexOf('\n## ', start + 1);
  return guide.slice(start, next < 0 ? undefined : next);
}

/** The bash lines of the guide (inside ```bash fences), in order. */
function bashLines(text: string): string[] {
  return [...text.matchAll(/```bash\n([\s\S]*?)```/g)].flatMap((m) => (m[1] ?? '').split('\n'));
}

describe('docs/deploy.md', () => {
  it('runs check as a preflight before the first azd up, and again after the first deploy', () => {
    const lines = bashLines(guide);
    const firstAzdUp = lines.findIndex((line) => /^azd up\b/.test(line));
    const checks = lines.flatMap((line, i) => (/npx exo-workflow-sync check\b/.test(line) ? [i] : []));
    expect(firstAzdUp).toBeGreaterThan(0);
    expect(checks.some((i) => i < firstAzdUp)).toBe(true);
    expect(checks.some((i) => i > firstAzdUp)).toBe(true);
  });

  it('sets EXO_ORGANIZATION and dry run before azd up in the managed-identity section', () => {
    const lines = bashLines(section(/^## 12\. /m));
    const azdUp = lines.findIndex((line) => /^azd up\b/.test(line));
    expect(azdUp).toBeGreaterThan(0);
    const before = lines.slice(0, azdUp).join('\n');
    expect(before).toMatch(/^azd env set EXO_AUTH managedIdentity/m);
    expect(before).toMatch(/^azd env set EXO_ORGANIZATION \S+\.onmicrosoft\.com/m);
    expect(before).toMatch(/^azd env set DRY_RUN true/m);
  });

  it('counts each run once in the KQL of every run, against the lines the app logs', () => {
    const query = section(/^## 9\. /m).match(/\/\/ Every run the sweeps processed[\s\S]*?```/)?.[0] ?? '';
    const pattern = /matches regex @"([^"]+)"/.exec(query)?.[1];
    expect(pattern).toBeDefined();
    const runs: RunReport[] = ['completed', 'failed', 'planned', 'skipped'].map((outcome, i) => ({
      runId: `66${String(i).padStart(22, '0')}`,
      workflowId: 'w',
      workflowName: 'Leavers (EU)',
      email: `leaver${i}@contoso.com`,
      outcome: outcome as RunReport['outcome'],
      actions: [{ name: 'convertToShared', status: outcome === 'failed' ? 'failed' : 'done' }],
      signalled: outcome === 'completed',
      ...(outcome === 'failed' ? { error: 'run 660000000000000000000000 (Terminate Users) completed' } : {}),
    }));
    const report: SweepReport = {
      dryRun: false,
      startedAt: '',
      finishedAt: '',
      runs,
      summary: { completed: 1, failed: 1, skipped: 1, planned: 1 },
      warnings: [],
      deferred: 0,
      stats: { workflows: 1, powerShellProcesses: 1, exchangeCmdletCalls: 4 },
    };
    const lines: string[] = [];
    const capture = (message: string) => void lines.push(message);
    const logger: Logger = { debug: capture, info: capture, warn: capture, error: capture };
    logReport(logger, report);
    // What the use case logs at debug level, which an admin may turn on: never counted as a run.
    lines.push(`run ${runs[1]?.runId} failed, not signalled: convertToShared: no mailbox`);
    const matched = lines.filter((line) => new RegExp(pattern as string).test(line));
    expect(matched.map((line) => line.slice(4, 28)).sort()).toEqual(runs.map((run) => run.runId).sort());
  });

  it('keeps generated key, certificate and policy files in a temporary folder, ignored by git and docker', () => {
    const bash = bashLines(guide).join('\n');
    const mentions = [
      ...bash.matchAll(/[^\s@"]*(exo-app-only[\w-]*\.(?:key|pfx|pem)|exo-cert-policy\.json)/g),
    ];
    expect(mentions.length).toBeGreaterThan(5);
    // Except the admin's own PFX for local file mode, which lives wherever they keep it ($HOME/...).
    for (const mention of mentions.filter((m) => !m[0].startsWith('$HOME/')))
      expect(mention[0]).toMatch(/^\$work\//);
    expect(bash).toMatch(/work=\$\(mktemp -d\)/);
    const gitignore = readFileSync(join(ROOT, '.gitignore'), 'utf8').split('\n');
    const dockerignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const pattern of ['*.pfx', '*.key', 'exo-cert-policy.json']) {
      expect(gitignore).toContain(pattern);
      expect(dockerignore).toContain(pattern);
    }
  });

  it('gives a monthly cost for the default SKUs with its date and source', () => {
    expect(guide).toMatch(/EP1.*US\$\d+/);
    expect(guide).toMatch(/about US\$\d+(-\d+)? a month/);
    expect(guide).toMatch(/list prices[\s\S]{0,200}published in (mid-)?20\d\d/);
    expect(guide).toContain('azure.microsoft.com/pricing/details/functions/');
    expect(guide).toContain('https://azure.microsoft.com/pricing/calculator/');
  });

  it('shows how to watch the live log during the first dry run', () => {
    const dryRun = bashLines(section(/^## 7\. /m)).join('\n');
    expect(dryRun).toMatch(
      /az webapp log tail --resource-group "\$AZURE_RESOURCE_GROUP" --name "\$AZURE_FUNCTION_APP_NAME"/,
    );
  });
});
