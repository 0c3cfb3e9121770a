/**
 * The arrows lint keeps: product code never imports test code, the use case never imports an
 * adapter, an adapter never imports another, and no module cycle. Each rule is shown failing on a
 * deliberate violation (linted as text under a real file's name: nothing is written to the tree).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const ESLINT = join(ROOT, 'node_modules', 'eslint', 'bin', 'eslint.js');

interface LintResult {
  filePath: string;
  messages: { ruleId: string | null; message: string }[];
}

/** ESLint as `npm run lint` runs it (a child: its config loader needs real ES modules, not jest's). */
function lint(args: string[], stdin?: string): Promise<LintResult[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [ESLINT, '--format', 'json', ...args],
      {
        cwd: ROOT,
        env: { ...process.env, EXO_LINT_ARROWS_ONLY: '1' },
        maxBuffer: 64 * 1024 * 1024,
        timeout: 110_000,
      },
      (error, stdout, stderr) => {
        try {
          resolve(JSON.parse(stdout) as LintResult[]);
        } catch {
          reject(new Error(`eslint gave no JSON (${error?.message ?? 'no error'}): ${stderr}`));
        }
      },
    );
    child.stdin?.end(stdin ?? '');
  });
}

/** The restricted-import messages for `code` linted as if it were the product file `filePath`. */
async function restrictedImports(filePath: string, code: string): Promise<string[]> {
  const [result] = await lint(['--stdin', '--stdin-filename', filePath], code);
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('lint keeps the arrows', () => {
  test('product code importing test code fails lint', async () => {
    const messages = await restrictedImports(
      'cli/sandbox.ts',
      "import { FakeWorkflowApi } from '../test/support/fakes';\nexport const api = FakeWorkflowApi;\n",
    );
    expect(messages).toEqual([expect.stringContaining('product code never imports test code')]);
  }, 60_000);

  test('the use case importing an adapter fails lint', async () => {
    const messages = await restrictedImports(
      'shared/sweep/plan.ts',
      "import { SaasManagerClient } from '../saasManager/saasManagerClient';\nexport const c = SaasManagerClient;\n",
    );
    expect(messages).toEqual([expect.stringContaining('imports ports, never adapters')]);
  }, 60_000);

  test('the verify use case importing the composition root or an adapter fails lint', async () => {
    const messages = await restrictedImports(
      'shared/verify/runVerify.ts',
      "import { verify } from '../composition';\nimport { TableRunRecords } from '../runRecords/tableRunRecords';\nexport const v = [verify, TableRunRecords];\n",
    );
    expect(messages).toEqual([
      expect.stringContaining('imports ports, never adapters'),
      expect.stringContaining('imports ports, never adapters'),
    ]);
  }, 60_000);

  test('an adapter importing another adapter fails lint', async () => {
    const messages = await restrictedImports(
      'shared/runRecords/fileRunRecords.ts',
      "import { LockFileClaims } from '../claims/lockFileClaims';\nexport const c = LockFileClaims;\n",
    );
    expect(messages).toEqual([expect.stringContaining('never imports another adapter')]);
  }, 60_000);

  test('the product as it is passes those rules', async () => {
    const results = await lint(['functions', 'cli', 'shared', 'sandbox']);
    const found = results.flatMap((r) =>
      r.messages
        .filter((m) => m.ruleId === 'no-restricted-imports')
        .map((m) => `${r.filePath}: ${m.message}`),
    );
    expect(found).toEqual([]);
  }, 120_000);

  test('an import cycle fails the cycle check, and the product has none', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number; output: string }>((resolve) => {
        execFile(
          process.execPath,
          [join(ROOT, 'scripts', 'check-import-cycles.mjs'), ...args],
          (error, stdout, stderr) =>
            resolve({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr }),
        );
      });
    const dir = mkdtempSync(join(tmpdir(), 'exo-cycles-'));
    try {
      mkdirSync(join(dir, 'cli'));
      writeFileSync(join(dir, 'cli', 'a.ts'), "import { b } from './b';\nexport const a = () => b;\n");
      writeFileSync(
        join(dir, 'cli', 'b.ts'),
        "export const b = 1;\nexport const load = () => import('./a.js');\n",
      );
      const cyclic = await run([dir, 'cli']);
      expect(cyclic.code).toBe(1);
      expect(cyclic.output).toContain('import cycle: cli/a.ts -> cli/b.ts -> cli/a.ts');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const product = await run([]);
    expect(product).toEqual({
      code: 0,
      output: expect.stringMatching(/^no import cycles among \d+ modules/),
    });
  }, 60_000);
});
