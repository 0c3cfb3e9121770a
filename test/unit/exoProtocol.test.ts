/**
 * The wire protocol as pure code: data lines, terminal sequences in answers, the one-JSON-line rule,
 * and the child environment's allow-list.
 */
import { childEnvironment } from '../../shared/exchange/childEnvironment';
import { encodeDataLine, parseResultLine, stripTerminalSequences } from '../../shared/exchange/exoProtocol';

describe('answers from PowerShell', () => {
  // What real pwsh 7.6.9 writes on Linux under `-Command -` without TERM (PowerShell/PowerShell#26631).
  const realPwshStdout = '\u001b[?1h\u001b[?1l{"ok":true,"pid":42}\n\u001b[?1h\u001b[?1l';

  it('reads the one JSON line through the terminal mode sequences real pwsh writes without TERM', () => {
    expect(parseResultLine(realPwshStdout)).toEqual({ ok: true, value: { ok: true, pid: 42 }, noise: [] });
  });

  it('ignores colour, title (OSC) and C1 sequences, and keeps text that only looks like them', () => {
    expect(stripTerminalSequences('\u001b[31mred\u001b[0m \u001b]0;title\u0007x \u009b2Ky [?1h')).toBe(
      'red x y [?1h',
    );
    expect(parseResultLine('\u001b]0;pwsh\u001b\\{"ok":false}\r\n')).toMatchObject({
      ok: true,
      value: { ok: false },
    });
  });

  it('refuses zero or two JSON lines, and reports other lines as noise', () => {
    expect(parseResultLine('\u001b[?1h\u001b[?1l\n')).toEqual({ ok: false, problem: 'got 0 JSON lines' });
    expect(parseResultLine('{"a":1}\n{"b":2}\n')).toEqual({ ok: false, problem: 'got 2 JSON lines' });
    expect(parseResultLine('WARNING: hello\n{"ok":true}\n')).toEqual({
      ok: true,
      value: { ok: true },
      noise: ['WARNING: hello'],
    });
  });
});

describe('data lines', () => {
  it('are a comment of base64 JSON: nothing PowerShell could run or a transcript would show as code', () => {
    const line = encodeDataLine({ mailbox: "o'brien@contoso.com", note: '$(Remove-Mailbox x)\n`"' });
    expect(line).toMatch(/^#[A-Za-z0-9+/]+=*$/);
    expect(JSON.parse(Buffer.from(line.slice(1), 'base64').toString('utf8'))).toEqual({
      mailbox: "o'brien@contoso.com",
      note: '$(Remove-Mailbox x)\n`"',
    });
  });
});

describe('the child environment', () => {
  const worker = {
    PATH: '/usr/bin',
    HOME: '/home/site',
    LANG: 'C.UTF-8',
    PSModulePath: '/opt/modules',
    POWERSHELL_TELEMETRY_OPTOUT: '1',
    TERM: 'xterm-256color',
    TRELICA_CLIENT_SECRET: 'secret',
    AzureWebJobsStorage: 'DefaultEndpointsProtocol=https;AccountKey=x',
    AzureWebJobsStorage__clientId: 'id',
    EXO_CERTIFICATE_PASSWORD: 'pw',
    IDENTITY_ENDPOINT: 'http://127.0.0.1:8081/msi/token',
    IDENTITY_HEADER: 'header',
    MSI_SECRET: 'legacy',
  };

  it('passes only the allow-list, and always TERM=dumb and NO_COLOR=1', () => {
    expect(childEnvironment(worker, { managedIdentity: false, platform: 'linux' })).toEqual({
      PATH: '/usr/bin',
      HOME: '/home/site',
      LANG: 'C.UTF-8',
      PSModulePath: '/opt/modules',
      POWERSHELL_TELEMETRY_OPTOUT: '1',
      DOTNET_TieredCompilation: '0',
      DOTNET_JITMinOpts: '1',
      TERM: 'dumb',
      NO_COLOR: '1',
    });
  });

  it("sets the session's .NET runtime defaults unless the worker chose its own", () => {
    const env = childEnvironment(
      { ...worker, DOTNET_TieredCompilation: '1' },
      { managedIdentity: false, platform: 'linux' },
    );
    expect(env.DOTNET_TieredCompilation).toBe('1');
    expect(env.DOTNET_JITMinOpts).toBe('1');
  });

  it("opts the session out of PowerShell's telemetry unless the worker chose otherwise", () => {
    const { POWERSHELL_TELEMETRY_OPTOUT: _chosen, ...unset } = worker;
    expect(
      childEnvironment(unset, { managedIdentity: false, platform: 'linux' }).POWERSHELL_TELEMETRY_OPTOUT,
    ).toBe('1');
    const env = childEnvironment(
      { ...worker, POWERSHELL_TELEMETRY_OPTOUT: '0' },
      { managedIdentity: false, platform: 'linux' },
    );
    expect(env.POWERSHELL_TELEMETRY_OPTOUT).toBe('0');
  });

  it('adds the managed identity endpoint only for EXO_AUTH=managedIdentity', () => {
    const env = childEnvironment(worker, { managedIdentity: true, platform: 'linux' });
    expect(env).toMatchObject({ IDENTITY_ENDPOINT: worker.IDENTITY_ENDPOINT, IDENTITY_HEADER: 'header' });
    expect(env.MSI_SECRET).toBeUndefined();
    expect(env.TRELICA_CLIENT_SECRET).toBeUndefined();
  });
});
