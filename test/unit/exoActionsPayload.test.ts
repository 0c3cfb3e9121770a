/**
 * ExoActions.psm1 on its own, in the resolved PowerShell, without Exchange: its address rule agrees
 * with the planner's, and malformed payloads come back as one structured JSON line, never as stderr
 * noise or a half-run plan.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { powerShellCommand } from '../support/exchangeShellTesting';
import { addressProblem } from '../../shared/addresses';

const MODULE = path.resolve(__dirname, '..', '..', 'shared', 'exchange', 'ExoActions.psm1');

const SCRIPT = String.raw`
param([Parameter(Mandatory)][string]$InputFile)
$ErrorActionPreference = 'Stop'
$module = Import-Module -Name $env:EXO_ACTIONS_MODULE -PassThru
$json = [System.IO.File]::ReadAllText($InputFile)
$document = [System.Text.Json.JsonDocument]::Parse($json, [System.Text.Json.JsonDocumentOptions]::new())
$request = $document.RootElement
foreach ($address in $request.GetProperty('addresses').EnumerateArray()) {
  $verdict = & $module { param($Value) Test-ExoAddress $Value } $address.GetString()
  [Console]::Out.WriteLine("ADDRESS $verdict")
}
foreach ($payload in $request.GetProperty('runPayloads').EnumerateArray()) { Invoke-ExoRunPlan -Payload $payload.GetString() }
foreach ($payload in $request.GetProperty('connectPayloads').EnumerateArray()) { Connect-ExoSession -Payload $payload.GetString() }
Disconnect-ExoSession
`;

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(path.join(tmpdir(), 'exo-actions-'));
  writeFileSync(path.join(scratch, 'Run.ps1'), SCRIPT);
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Output {
  addresses: boolean[];
  results: Record<string, unknown>[];
  lines: string[];
}

function runModule(input: {
  addresses?: string[];
  runPayloads?: string[];
  connectPayloads?: string[];
}): Promise<Output> {
  const file = path.join(scratch, `input-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify({ addresses: [], runPayloads: [], connectPayloads: [], ...input }));
  return new Promise((resolve, reject) => {
    execFile(
      ...powerShellCommand([
        '-NoLogo',
        '-NoProfile',
        '-NonInteractive',
        '-File',
        path.join(scratch, 'Run.ps1'),
        '-InputFile',
        file,
      ]),
      // An empty PSModulePath folder: connect payload errors must be found before any module is imported.
      {
        env: { ...process.env, EXO_ACTIONS_MODULE: MODULE, PSModulePath: scratch },
        timeout: 30_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error || stderr.trim())
          return reject(new Error(`PowerShell failed: ${stderr || error?.message}`));
        const lines = stdout.split(/\r?\n/).filter((line) => line.length > 0);
        resolve({
          addresses: lines
            .filter((line) => line.startsWith('ADDRESS '))
            .map((line) => line === 'ADDRESS True'),
          results: lines
            .filter((line) => line.startsWith('{'))
            .map((line) => JSON.parse(line) as Record<string, unknown>),
          lines,
        });
      },
    );
  });
}

const b64 = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8').toString('base64');

const ADDRESSES = [
  'leaver@contoso.com',
  "o'brien@contoso.com",
  'zoë.ångström@contoso.com',
  'first.last+tag@sub.contoso.co.uk',
  'under_score%x@contoso.com',
  'e\u0301lise@contoso.com',
  'δοκιμή@παράδειγμα.δοκιμή',
  'пользователь@пример.рф',
  '123@contoso.com',
  'a@b.cd',
  `${'a'.repeat(64)}@contoso.com`,
  `${'a'.repeat(65)}@contoso.com`,
  `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(57)}.com`,
  `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(58)}.com`,
  `x@${'b'.repeat(63)}.com`,
  `x@${'b'.repeat(64)}.com`,
  'x@-contoso.com',
  'x@contoso-.com',
  'x@con-toso.com',
  'x@contoso.c',
  'x@contoso.123',
  'x@contoso',
  'x@.contoso.com',
  'x@contoso..com',
  '.x@contoso.com',
  'x.@contoso.com',
  'x..y@contoso.com',
  '@contoso.com',
  'x@',
  'x',
  '',
  'x@y@contoso.com',
  "x'; Set-Mailbox victim -Type Shared; '@contoso.com",
  'x\u2019@contoso.com',
  'x$(1)@contoso.com',
  'x`@contoso.com',
  'x;y@contoso.com',
  'x|y@contoso.com',
  'x*@contoso.com',
  'x y@contoso.com',
  'x\ty@contoso.com',
  'leaver@contoso.com\n',
  'leaver@contoso.com\r',
  '\u001b[31mx@contoso.com',
  'x\u202e@contoso.com',
  'x\u00a0@contoso.com',
  '"x"@contoso.com',
  'x@[127.0.0.1]',
  'x(comment)@contoso.com',
  'x@contoso.com.',
  '😀@contoso.com',
];

it('accepts exactly the addresses the planner accepts', async () => {
  const output = await runModule({ addresses: ADDRESSES });

  const planner = ADDRESSES.map((address) => addressProblem(address) === undefined);
  expect(output.addresses).toHaveLength(ADDRESSES.length);
  expect(
    Object.fromEntries(ADDRESSES.map((address, i) => [JSON.stringify(address), output.addresses[i]])),
  ).toEqual(Object.fromEntries(ADDRESSES.map((address, i) => [JSON.stringify(address), planner[i]])));
  expect(planner.filter(Boolean).length).toBeGreaterThan(10);
});

it('agrees with the planner on letters outside the Basic Multilingual Plane: both refuse them', async () => {
  // .NET regular expressions see UTF-16 halves there, so the planner refuses them too.
  const astral = '\u{1d49c}lice@contoso.com';
  expect(addressProblem(astral)).toMatch(/Basic Multilingual Plane/);
  expect((await runModule({ addresses: [astral] })).addresses).toEqual([false]);
});

it('answers each malformed payload with one structured JSON line in plain ASCII', async () => {
  const valid = {
    runId: 'r',
    mailbox: 'leaver@contoso.com',
    actions: [{ name: 'convertToShared' }],
    options: { autoMapping: true },
    whatIf: false,
  };
  const runPayloads = [
    '',
    'not base64 at all!',
    b64('{ this is not json'),
    b64('[1, 2, 3]'),
    b64({ ...valid, actions: 'convertToShared' }),
    b64({ ...valid, whatIf: 'yes' }),
    b64(valid),
    'A'.repeat(5 * 1024 * 1024),
  ];
  const connectPayloads = [
    b64({
      organization: "contoso.onmicrosoft.com'; Remove-Mailbox x; '",
      auth: 'certificate',
      appId: '6a1f3c2e-8d4b-4b7a-9c11-2f5e0d7a9b31',
    }),
    b64({ organization: 'contoso.onmicrosoft.com', auth: 'certificate', appId: 'not-a-guid' }),
    b64({
      organization: 'contoso.onmicrosoft.com',
      auth: 'certificate',
      appId: '6a1f3c2e-8d4b-4b7a-9c11-2f5e0d7a9b31',
    }),
    b64({
      organization: 'contoso.onmicrosoft.com',
      auth: 'certificate',
      appId: '6a1f3c2e-8d4b-4b7a-9c11-2f5e0d7a9b31',
      certificate: { format: 'pfx', data: '!!!' },
    }),
    b64({
      organization: 'contoso.onmicrosoft.com',
      auth: 'certificate',
      appId: '6a1f3c2e-8d4b-4b7a-9c11-2f5e0d7a9b31',
      certificate: { format: 'pfx', data: b64('junk') },
    }),
    b64({
      organization: 'contoso.onmicrosoft.com',
      auth: 'certificate',
      appId: '6a1f3c2e-8d4b-4b7a-9c11-2f5e0d7a9b31',
      certificate: { format: 'der', data: b64('junk') },
    }),
    b64({ organization: 'contoso.onmicrosoft.com', auth: 'password' }),
    b64({ organization: 'contoso.onmicrosoft.com', auth: 'managedIdentity', accountId: '$(whoami)' }),
    b64({ organization: 'contoso.onmicrosoft.com', auth: 'managedIdentity' }),
  ];

  const output = await runModule({ runPayloads, connectPayloads });

  // One line per call (plus the final Disconnect-ExoSession), nothing else.
  expect(output.lines).toHaveLength(runPayloads.length + connectPayloads.length + 1);
  expect(output.lines.every((line) => /^[\x20-\x7e]+$/.test(line))).toBe(true);
  const codes = output.results.map((result) =>
    result.ok === true ? 'ok' : (result.error as { code: string }).code,
  );
  expect(codes).toEqual([
    'PayloadInvalid',
    'PayloadInvalid',
    'PayloadInvalid',
    'PayloadInvalid',
    'PayloadInvalid',
    'PayloadInvalid',
    'NotConnected',
    'PayloadInvalid',
    'PayloadInvalid',
    'PayloadInvalid',
    'PayloadInvalid',
    'CertificateInvalid',
    'CertificateInvalid',
    'PayloadInvalid',
    'PayloadInvalid',
    'PayloadInvalid',
    'ExchangeModuleNotFound',
    'ok',
  ]);
  expect(output.results[1]?.error).toEqual({ code: 'PayloadInvalid', message: 'The payload is not base64.' });
  expect(output.results[16]?.error).toMatchObject({
    message: expect.stringContaining('The ExchangeOnlineManagement module could not be imported'),
  });
});
