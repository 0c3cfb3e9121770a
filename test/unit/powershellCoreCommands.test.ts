/**
 * Every PowerShell file we ship or load in tests uses only core-engine commands, our own functions and
 * Exchange Online cmdlets, so it behaves the same on the engine host (core commands only) and on real
 * pwsh 7.6 in production. Each .ps1/.psm1 is parsed by PowerShell's own parser in the resolved
 * PowerShell, and every command name is checked.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { findPackageRoot, findPowerShell } from '../../shared/exchange/findPowerShell';

/** The Exchange Online cmdlets our module and the stub module may call. */
const EXCHANGE_CMDLETS = [
  'Connect-ExchangeOnline',
  'Disconnect-ExchangeOnline',
  'Get-ConnectionInformation',
  'Get-Mailbox',
  'Set-Mailbox',
  'Get-Recipient',
  'Get-MailboxPermission',
  'Add-MailboxPermission',
  'Get-RecipientPermission',
  'Add-RecipientPermission',
  'Get-DistributionGroup',
  'Get-DistributionGroupMember',
  'Remove-DistributionGroupMember',
  'Get-EXOMailbox',
  'Get-EXORecipient',
  'Set-MailboxAutoReplyConfiguration',
  'Set-CASMailbox',
];

const SKIPPED_DIRECTORIES = new Set(['node_modules', 'dist', '.git', 'coverage', '.tools']);
const SKIPPED_PATHS = new Set([join('tools', 'pwsh-engine', 'bin'), join('tools', 'pwsh-engine', 'obj')]);

/**
 * Runs in the resolved PowerShell and itself uses core commands only. Prints tab-separated lines:
 * CORE <name> (core cmdlets and built-in functions), ALIAS <name> <target>, FUNC <file> <name>,
 * CMD <file> <line> <name>, PARSE <file> <line> <message>.
 * Core = the Microsoft.PowerShell.Core cmdlets plus the engine's module-less built-in functions: on the
 * engine host that is exactly `Get-Command -CommandType Cmdlet,Function`; on real pwsh it leaves out the
 * Utility and Management modules, which the engine host does not have.
 */
const CHECKER = String.raw`
param([Parameter(Mandatory)][string]$ListFile)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
$T = [char]9
Get-Command -Module Microsoft.PowerShell.Core -CommandType Cmdlet | ForEach-Object { "CORE$T$($_.Name)" }
Get-Command -CommandType Function -ListImported | Where-Object { -not $_.ModuleName } | ForEach-Object { "CORE$T$($_.Name)" }
Get-Command -CommandType Alias -ListImported | Where-Object { $_.ResolvedCommandName } | ForEach-Object { "ALIAS$T$($_.Name)$T$($_.ResolvedCommandName)" }
foreach ($file in [System.IO.File]::ReadAllLines($ListFile)) {
  if (-not $file) { continue }
  $tokens = $null
  $errors = $null
  $ast = [System.Management.Automation.Language.Parser]::ParseFile($file, [ref]$tokens, [ref]$errors)
  foreach ($e in $errors) {
    "PARSE$T$file$T$($e.Extent.StartLineNumber)$T$($e.Message -replace '\s+', ' ')"
  }
  foreach ($f in $ast.FindAll({ param($n) $n -is [System.Management.Automation.Language.FunctionDefinitionAst] }, $true)) {
    "FUNC$T$file$T$($f.Name)"
  }
  foreach ($c in $ast.FindAll({ param($n) $n -is [System.Management.Automation.Language.CommandAst] }, $true)) {
    $name = $c.GetCommandName()
    if ($name) { "CMD$T$file$T$($c.Extent.StartLineNumber)$T$name" }
  }
}
`;

interface Finding {
  file: string;
  line: number;
  problem: string;
}

interface Inspection {
  coreCommands: Set<string>;
  findings: Finding[];
}

const powerShell = findPowerShell();
const root = findPackageRoot(__dirname) as string;
let scratch: string;
let sampleFile: string;
let brokenFile: string;
let repositoryFiles: string[];
let inspection: Inspection;

/** Self-test material, checked in the same PowerShell run as the repository's files. */
const SAMPLE = [
  'function Invoke-Sample {',
  '  [CmdletBinding()] param([string]$Identity)',
  '  $mailbox = Get-Mailbox -Identity $Identity',
  '  @($mailbox) | ForEach-Object { $_ } | Where-Object { $_ } | Out-Null',
  '  $items = @(1, 2) | % { $_ }',
  '  Microsoft.PowerShell.Core\\Import-Module -Name Nothing -ErrorAction Ignore',
  '  $json = $mailbox | ConvertTo-Json -Compress',
  '  Write-Output $json',
  '  Invoke-Sample -Identity x',
  '}',
];
const BROKEN = ['$ok = 1', 'function Broken {', '  if ($ok) {', '}'];

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'ps-core-commands-'));
  sampleFile = join(scratch, 'Sample.psm1');
  brokenFile = join(scratch, 'Broken.ps1');
  writeFileSync(sampleFile, SAMPLE.join('\n'));
  writeFileSync(brokenFile, BROKEN.join('\n'));
  repositoryFiles = powerShellFilesIn(root);
  inspection = await inspect([...repositoryFiles, sampleFile, brokenFile]);
});

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

function powerShellFilesIn(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (SKIPPED_DIRECTORIES.has(entry.name) || SKIPPED_PATHS.has(relative(root, path))) continue;
      files.push(...powerShellFilesIn(path));
    } else if (entry.isFile() && /\.(ps1|psm1)$/i.test(entry.name)) {
      files.push(path);
    }
  }
  return files.sort();
}

function runChecker(files: string[]): Promise<string> {
  const checker = join(scratch, 'Check-Commands.ps1');
  const list = join(scratch, `files-${Date.now()}-${Math.random().toString(36).slice(2)}.txt`);
  writeFileSync(checker, CHECKER);
  writeFileSync(list, files.join('\n'));
  const args = ['-NoLogo', '-NoProfile', '-NonInteractive', '-File', checker, '-ListFile', list];
  return new Promise((resolve, reject) => {
    execFile(
      powerShell.executable,
      args,
      { timeout: 30_000, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error || stderr.trim()) {
          reject(
            new Error(`the checker failed in ${powerShell.executable}: ${stderr.trim() || String(error)}`),
          );
        } else {
          resolve(stdout);
        }
      },
    );
  });
}

/** Parse the files and list every command that is neither core, ours, nor an Exchange cmdlet. */
async function inspect(files: string[]): Promise<Inspection> {
  const output = await runChecker(files);
  const core = new Set<string>();
  const aliases = new Map<string, string>();
  const functionsByFile = new Map<string, Set<string>>();
  const commands: { file: string; line: number; name: string }[] = [];
  const findings: Finding[] = [];
  for (const line of output.split(/\r?\n/)) {
    const [kind, a = '', b = '', c = ''] = line.split('\t');
    if (kind === 'CORE') core.add(a.toLowerCase());
    else if (kind === 'ALIAS') aliases.set(a.toLowerCase(), b.toLowerCase());
    else if (kind === 'FUNC')
      functionsByFile.set(a, (functionsByFile.get(a) ?? new Set()).add(b.toLowerCase()));
    else if (kind === 'CMD') commands.push({ file: a, line: Number(b), name: c });
    else if (kind === 'PARSE') findings.push({ file: a, line: Number(b), problem: `parse error: ${c}` });
  }
  const exchange = new Set(EXCHANGE_CMDLETS.map((name) => name.toLowerCase()));
  // Ours: functions defined in any repository file, or in the file itself (the self-test samples).
  const repositoryFunctions = new Set(
    [...functionsByFile]
      .filter(([file]) => !relative(root, file).startsWith('..'))
      .flatMap(([, names]) => [...names]),
  );

  for (const { file, line, name } of commands) {
    const ownFunctions = functionsByFile.get(file);
    const allowed = (command: string): boolean =>
      core.has(command) ||
      exchange.has(command) ||
      repositoryFunctions.has(command) ||
      !!ownFunctions?.has(command);
    // A script path (`& "$PSScriptRoot/x.ps1"` resolves to no name; a literal path does) is not a command.
    if (/[\\/]|\.ps1$/i.test(name)) continue;
    // Module-qualified names: Microsoft.PowerShell.Core\ForEach-Object.
    const bare = name.slice(name.lastIndexOf('\\') + 1).toLowerCase();
    const target = aliases.get(bare);
    if (allowed(bare) || (target !== undefined && allowed(target))) continue;
    findings.push({
      file,
      line,
      problem: `'${name}' is not a core PowerShell command, one of ours, or an allowed Exchange cmdlet`,
    });
  }
  return { coreCommands: core, findings };
}

function formatFindings(findings: Finding[]): string[] {
  return findings.map(
    ({ file, line, problem }) => `${relative(root, file).split(sep).join('/')}:${line}: ${problem}`,
  );
}

function findingsIn(file: string): string[] {
  return formatFindings(inspection.findings.filter((finding) => finding.file === file));
}

it('uses only core commands, our own functions and Exchange cmdlets in every .ps1/.psm1 of the repository', () => {
  // The checker must have seen the engine's command set, or every check below is void.
  expect(inspection.coreCommands.has('foreach-object')).toBe(true);
  expect(inspection.coreCommands.has('import-module')).toBe(true);
  expect(inspection.coreCommands.has('convertto-json')).toBe(false);
  expect(repositoryFiles.flatMap(findingsIn)).toEqual([]);
});

it('catches a command outside the core set, names file and line, and accepts core, our and Exchange commands', () => {
  expect(findingsIn(sampleFile).map((line) => line.replace(/^.*Sample\.psm1/, 'Sample.psm1'))).toEqual([
    "Sample.psm1:7: 'ConvertTo-Json' is not a core PowerShell command, one of ours, or an allowed Exchange cmdlet",
    "Sample.psm1:8: 'Write-Output' is not a core PowerShell command, one of ours, or an allowed Exchange cmdlet",
  ]);
});

it('reports parse errors with their line', () => {
  // The function's brace on line 2 is never closed (the '}' on line 4 closes the if).
  expect(findingsIn(brokenFile).map((line) => line.replace(/^.*Broken\.ps1/, 'Broken.ps1'))).toEqual([
    expect.stringMatching(/^Broken\.ps1:2: parse error: Missing closing '\}'/),
  ]);
});
