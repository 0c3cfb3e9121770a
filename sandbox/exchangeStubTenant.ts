/**
 * A simulated Exchange Online tenant for the stub ExchangeOnlineManagement module
 * (sandbox/modules/ExchangeOnlineManagement). The stub reads the tenant from a JSON state file and
 * appends one JSON line per cmdlet call to a log; this helper seeds the file, hands out the environment
 * a PowerShell process needs to load the stub by name, and reads state and calls back for assertions.
 *
 *   const tenant = ExchangeStubTenant.create({ certificate, mailboxes: [{ address: 'leaver@contoso.com' }] });
 *   const shell = new PowerShellExchangeShell({ executable, env: { ...process.env, ...tenant.env }, ... });
 *   ...
 *   expect(tenant.mailbox('leaver@contoso.com').recipientTypeDetails).toBe('SharedMailbox');
 *   expect(tenant.calls().map((c) => c.cmdlet)).toEqual([...]);
 *   tenant.dispose();
 */
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  cpSync,
  existsSync,
  fstatSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ExchangeConnection } from '../shared/domain';
import { Secret } from '../shared/secret';
import type { TestCertificate } from './certificates';

/** Recipients that are not groups: every mailbox kind, mail users, guests and contacts. */
export type StubMailboxType =
  | 'UserMailbox'
  | 'SharedMailbox'
  | 'RoomMailbox'
  | 'EquipmentMailbox'
  | 'SchedulingMailbox'
  | 'TeamMailbox'
  | 'DiscoveryMailbox'
  | 'MailUser'
  | 'GuestMailUser'
  | 'MailContact';
export type StubGroupType =
  | 'MailUniversalDistributionGroup'
  | 'MailUniversalSecurityGroup'
  | 'GroupMailbox'
  | 'DynamicDistributionGroup'
  | 'MailNonUniversalGroup'
  | 'RoomList';

export interface StubMailboxSeed {
  /** Primary SMTP address (also the UPN unless given). */
  address: string;
  displayName?: string;
  /** Exchange Name (the DN's CN); defaults to the alias. */
  name?: string;
  alias?: string;
  type?: StubMailboxType;
  /**
   * Further proxy addresses: bare addresses are secondary SMTP addresses (stored as `smtp:x`);
   * prefixed ones (`smtp:`, `X500:`, `SIP:`) are kept as given. The primary is `SMTP:<address>`.
   */
  emailAddresses?: string[];
  /** Defaults to the address; contacts have none. */
  userPrincipalName?: string;
  /** The offboarding catalogue's mailbox state (auto-reply, protocols, devices, rules, meetings, holds). */
  catalogue?: StubMailboxCatalogue;
}

/** Per-mailbox state the catalogue cmdlets read and change (test/support/modules/.../StubCatalogue.ps1). */
export interface StubMailboxCatalogue {
  forwardingAddress?: string;
  forwardingSmtpAddress?: string;
  deliverToMailboxAndForward?: boolean;
  /** Guids of the principals with SendOnBehalf. */
  grantSendOnBehalfTo?: string[];
  litigationHoldEnabled?: boolean;
  /** 'Unlimited' or '<days>.00:00:00'. */
  litigationHoldDuration?: string;
  /** false: Set-Mailbox -LitigationHoldEnabled fails (no Plan 2 / Archiving licence). */
  litigationHoldLicensed?: boolean;
  archiveStatus?: 'None' | 'Active';
  inPlaceHolds?: string[];
  totalItemSizeBytes?: number;
  autoReply?: StubAutoReply;
  cas?: Partial<Record<StubProtocolKey, boolean>>;
  mobileDevices?: StubMobileDevice[];
  inboxRules?: StubInboxRule[];
  calendarEvents?: StubCalendarEvent[];
}

export type StubProtocolKey =
  'owaEnabled' | 'activeSyncEnabled' | 'popEnabled' | 'imapEnabled' | 'ewsEnabled' | 'mapiEnabled';

export interface StubAutoReply {
  autoReplyState: 'Disabled' | 'Enabled' | 'Scheduled';
  internalMessage: string;
  externalMessage: string;
  externalAudience: 'None' | 'Known' | 'All';
}

export interface StubMobileDevice {
  guid: string;
  deviceId: string;
  friendlyName: string;
  deviceModel: string;
  deviceOS: string;
  deviceType?: string;
}

export interface StubInboxRule {
  ruleIdentity: string;
  name: string;
  enabled: boolean;
  forwardTo?: string[];
  forwardAsAttachmentTo?: string[];
  redirectTo?: string[];
  deleteMessage?: boolean;
  moveToFolder?: string;
}

export interface StubCalendarEvent {
  id: string;
  subject: string;
  /** ISO 8601 (UTC). */
  start: string;
  end: string;
  isOrganizer: boolean;
  cancelled?: boolean;
}

export interface StubGroupSeed {
  name: string;
  address?: string;
  displayName?: string;
  type?: StubGroupType;
  /** Member addresses (mailboxes or groups of this tenant). */
  members?: string[];
  /** Secondary proxy addresses, as for mailboxes. */
  emailAddresses?: string[];
}

export interface StubFault {
  /** Cmdlet name, or '*' for every cmdlet. */
  cmdlet: string;
  /** Only calls with a parameter equal to this (e.g. a Guid or address). */
  identity?: string;
  /**
   * error: a terminating error; nonTerminating: WriteError; hang: sleep `seconds`; crash: exit the
   * process; warning: WriteWarning (by default a "Micro delay applied" warning); noise: write to the
   * console; throttle: Exchange's "server busy" throttling error with a Retry-After of `retryAfterSeconds`.
   */
  mode: 'error' | 'nonTerminating' | 'hang' | 'crash' | 'warning' | 'noise' | 'throttle';
  /** For `throttle`: the Retry-After in the message (default 1). */
  retryAfterSeconds?: number;
  /** How many calls it hits (default 1; -1 for every call). */
  times?: number;
  message?: string;
  seconds?: number;
  exitCode?: number;
  /** ErrorCategory name for 'error' (default NotSpecified). */
  category?: string;
  /**
   * An Exchange exception type name (e.g. RecipientTaskException, ManagementObjectNotFoundException):
   * the error then has Exchange's shape, with that type in the exception, CategoryInfo and
   * FullyQualifiedErrorId ([FailureCategory=Cmdlet-<type>]).
   */
  exception?: string;
}

export interface StubRecipient {
  guid: string;
  exchangeGuid?: string;
  externalDirectoryObjectId?: string;
  dn: string;
  name: string;
  alias: string;
  displayName: string;
  primarySmtpAddress: string;
  userPrincipalName?: string;
  /** Proxy addresses other than the primary (`smtp:` secondaries, `X500:` ...). */
  emailAddresses: string[];
  recipientTypeDetails: string;
  hiddenFromAddressListsEnabled?: boolean;
}

/** A mailbox with the catalogue's state (every field optional: absent means Exchange's default). */
export type StubMailbox = StubRecipient & StubMailboxCatalogue;

export interface StubGroup extends StubRecipient {
  /** Guids of the members. */
  members: string[];
}

export interface StubMailboxPermission {
  mailbox: string;
  user: string;
  accessRights: string[];
  inheritanceType: string;
  autoMapping: boolean;
  deny: boolean;
}

export interface StubRecipientPermission {
  recipient: string;
  trustee: string;
  accessRights: string[];
  accessControlType: string;
}

export interface StubConnection {
  organization: string;
  appId: string;
  /** Thumbprint of the certificate registered on the Entra app. */
  thumbprint: string;
  managedIdentity?: { enabled: boolean; accountId?: string };
}

export interface StubState {
  organization: string;
  connection: StubConnection;
  /** Milliseconds per cmdlet call, or per cmdlet name with a `default`. */
  latencyMs: number | Record<string, number>;
  mailboxes: StubMailbox[];
  groups: StubGroup[];
  mailboxPermissions: StubMailboxPermission[];
  recipientPermissions: StubRecipientPermission[];
  faults: StubFault[];
}

export interface StubCall {
  time: string;
  pid: number;
  cmdlet: string;
  /** Bound parameters; certificates appear as { thumbprint, hasPrivateKey }. */
  parameters: Record<string, unknown>;
}

export interface ExchangeStubTenantOptions {
  organization?: string;
  appId?: string;
  /** The certificate registered on the app (only its thumbprint is used). */
  certificate?: { thumbprint: string };
  /** Allow Connect-ExchangeOnline -ManagedIdentity (optionally only for this user-assigned client id). */
  managedIdentity?: boolean | { accountId?: string };
  mailboxes?: StubMailboxSeed[];
  groups?: StubGroupSeed[];
  /** Existing FullAccess grants, by address. */
  fullAccess?: Array<{ mailbox: string; user: string }>;
  /** Existing SendAs grants, by address. */
  sendAs?: Array<{ mailbox: string; trustee: string }>;
  latencyMs?: number | Record<string, number>;
  faults?: StubFault[];
}

export const STUB_APP_ID = '6a1f3c2e-8d4b-4b7a-9c11-2f5e0d7a9b31';
export const STUB_ORGANIZATION = 'contoso.onmicrosoft.com';
/**
 * Folder holding the stub module: it ships next to this file (`sandbox/modules`, copied to
 * `dist/sandbox/modules` by the build), so the sandbox works from a built package as from the repo.
 */
export function stubModulesDirectory(): string {
  const candidate = path.join(__dirname, 'modules');
  if (!existsSync(path.join(candidate, 'ExchangeOnlineManagement', 'ExchangeOnlineManagement.psd1'))) {
    throw new Error(
      `the stub ExchangeOnlineManagement module is missing from ${candidate} (run npm run build)`,
    );
  }
  return candidate;
}

export class ExchangeStubTenant {
  readonly dir: string;
  readonly statePath: string;
  readonly logPath: string;
  /** This tenant's copy of the stub module's folder (a PSModulePath entry). */
  readonly modulesDir: string;
  readonly organization: string;
  readonly appId: string;

  private constructor(dir: string, state: StubState) {
    this.dir = dir;
    this.statePath = path.join(dir, 'tenant.json');
    this.logPath = path.join(dir, 'calls.jsonl');
    this.modulesDir = path.join(dir, 'modules');
    cpSync(stubModulesDirectory(), this.modulesDir, { recursive: true });
    this.organization = state.organization;
    this.appId = state.connection.appId;
    this.write(state);
    writeFileSync(this.logPath, '');
  }

  static create(options: ExchangeStubTenantOptions = {}): ExchangeStubTenant {
    const dir = mkdtempSync(path.join(tmpdir(), 'exo-stub-'));
    return new ExchangeStubTenant(dir, buildState(options));
  }

  /**
   * Variables for the PowerShell process: only PSModulePath, with this tenant's copy of the stub first
   * (so `Import-Module ExchangeOnlineManagement` finds it, and it finds its state next to itself).
   */
  get env(): Record<string, string> {
    const existing = process.env.PSModulePath;
    return { PSModulePath: existing ? `${this.modulesDir}${path.delimiter}${existing}` : this.modulesDir };
  }

  /**
   * The tenant as of now: the state file, then the changes the sessions journalled after its version
   * (a session rewrites the whole file only now and then; see StubTenant.Save in StubNative.cs).
   */
  state(): StubState {
    const { stubVersion, stubJournalOffset, ...state } = JSON.parse(
      readFileSync(this.statePath, 'utf8'),
    ) as StubState & {
      stubVersion?: string;
      stubJournalOffset?: number;
    };
    replayJournal(state, this.journal(stubJournalOffset ?? 0), stubVersion ?? '');
    return state;
  }

  /** The journal's complete lines from a byte offset (none before a session's first write). */
  private journal(offset: number): string[] {
    let tail: string;
    try {
      // Only the part after the state file's version: the journal before it can be long.
      const file = openSync(path.join(this.dir, 'tenant.journal'), 'r');
      try {
        const bytes = Buffer.alloc(Math.max(fstatSync(file).size - offset, 0));
        readSync(file, bytes, 0, bytes.length, offset);
        tail = bytes.toString('utf8');
      } finally {
        closeSync(file);
      }
    } catch {
      return [];
    }
    // A line still being written (no newline yet) is left for the next read.
    return tail
      .slice(0, tail.lastIndexOf('\n') + 1)
      .split('\n')
      .filter((line) => line.length > 0);
  }

  /** Every cmdlet call since creation (or the last clearCalls), in order. */
  calls(): StubCall[] {
    return readFileSync(this.logPath, 'utf8')
      .split('\n')
      .filter((line) => line.trim().length > 0)
      .map((line) => JSON.parse(line) as StubCall);
  }

  clearCalls(): void {
    writeFileSync(this.logPath, '');
  }

  /** Change the tenant between calls (the stub re-reads the file when it changes). */
  update(mutate: (state: StubState) => void): void {
    const state = this.state();
    mutate(state);
    this.write(state);
  }

  /** Change one mailbox between calls (e.g. an admin re-enabling a protocol by hand). */
  updateMailbox(address: string, mutate: (mailbox: StubMailbox) => void): void {
    this.update((state) => {
      const found = state.mailboxes.find((m) => sameAddress(m.primarySmtpAddress, address));
      if (!found) throw new Error(`stub tenant has no mailbox ${address}`);
      mutate(found);
    });
  }

  setFault(fault: StubFault): void {
    this.update((state) => {
      state.faults = [...(state.faults ?? []), fault];
    });
  }

  clearFaults(): void {
    this.update((state) => {
      state.faults = [];
    });
  }

  setLatency(latencyMs: number | Record<string, number>): void {
    this.update((state) => {
      state.latencyMs = latencyMs;
    });
  }

  mailbox(address: string): StubMailbox {
    const found = this.state().mailboxes.find((m) => sameAddress(m.primarySmtpAddress, address));
    if (!found) throw new Error(`stub tenant has no mailbox ${address}`);
    return found;
  }

  group(name: string): StubGroup {
    const found = this.state().groups.find((g) => g.name === name);
    if (!found) throw new Error(`stub tenant has no group ${name}`);
    return found;
  }

  /** Names of the groups the address is a direct member of. */
  groupsOf(address: string): string[] {
    const state = this.state();
    const guid = state.mailboxes.find((m) => sameAddress(m.primarySmtpAddress, address))?.guid;
    if (!guid) throw new Error(`stub tenant has no mailbox ${address}`);
    return state.groups.filter((g) => g.members.includes(guid)).map((g) => g.name);
  }

  /** Addresses holding FullAccess on the mailbox (explicit grants only). */
  fullAccessOn(address: string): string[] {
    const state = this.state();
    const mailbox = this.mailbox(address);
    return state.mailboxPermissions
      .filter((p) => p.mailbox === mailbox.guid && p.accessRights.includes('FullAccess') && !p.deny)
      .map((p) => addressOf(state, p.user));
  }

  /** Addresses holding SendAs on the recipient. */
  sendAsOn(address: string): string[] {
    const state = this.state();
    const mailbox = this.mailbox(address);
    return state.recipientPermissions
      .filter(
        (p) =>
          p.recipient === mailbox.guid &&
          p.accessRights.includes('SendAs') &&
          p.accessControlType === 'Allow',
      )
      .map((p) => addressOf(state, p.trustee));
  }

  /**
   * An app-only certificate connection to this tenant, as the composition root builds it from Key Vault
   * or a file. `material`/`password` override the bytes (e.g. a certificate-only or protected PFX).
   */
  certificateConnection(
    certificate: Pick<TestCertificate, 'pfx' | 'pem' | 'thumbprint' | 'notBefore' | 'notAfter'>,
    options: { format?: 'pfx' | 'pem'; material?: Buffer; password?: string; appId?: string } = {},
  ): ExchangeConnection {
    const format = options.format ?? 'pfx';
    return {
      auth: 'certificate',
      organization: this.organization,
      appId: options.appId ?? this.appId,
      certificate: {
        format,
        material: new Secret(
          options.material ?? (format === 'pfx' ? certificate.pfx : Buffer.from(certificate.pem, 'utf8')),
        ),
        password: new Secret(options.password ?? ''),
        thumbprint: certificate.thumbprint,
        notBefore: certificate.notBefore,
        expiresOn: certificate.notAfter,
        source: `stub tenant ${this.organization}`,
      },
    };
  }

  managedIdentityConnection(accountId?: string): ExchangeConnection {
    return {
      auth: 'managedIdentity',
      organization: this.organization,
      ...(accountId ? { managedIdentityAccountId: accountId } : {}),
    };
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private write(state: StubState): void {
    // Atomic replace: a PowerShell process may be reading the file at the same moment.
    const temporary = `${this.statePath}.${process.pid}.${randomUUID()}.tmp`;
    // A fresh version: no session's change journal leads to it, so each re-reads the whole file.
    // The journal's length now: the sessions' next changes follow from this version, after it.
    let journalLength = 0;
    try {
      journalLength = statSync(path.join(this.dir, 'tenant.journal')).size;
    } catch {
      // no session has written yet
    }
    writeFileSync(
      temporary,
      JSON.stringify({ ...state, stubJournalOffset: journalLength, stubVersion: randomUUID() }),
    );
    renameSync(temporary, this.statePath);
    // A fresh token: the stub's sessions see this change on their next call, even a read that may
    // otherwise lag another session's writes by a moment (see Read-StubState in the module).
    const edited = path.join(this.dir, 'tenant.edited');
    writeFileSync(`${edited}.tmp`, randomUUID());
    renameSync(`${edited}.tmp`, edited);
  }
}

interface JournalLine {
  from: string;
  to: string;
  ops: Array<{ o: 'del' | 'put' | 'add' | 'set'; k: string; i?: number; v?: unknown }>;
}

/** Applies the journal's changes that follow from `version`, in order (the chain StubTenant.CatchUp follows). */
function replayJournal(state: Record<string, unknown>, lines: string[], version: string): void {
  let current = version;
  for (const text of lines) {
    const line = JSON.parse(text) as JournalLine;
    if (line.from !== current) continue;
    for (const op of line.ops) {
      const list = () => {
        const value = state[op.k];
        if (Array.isArray(value)) return value as unknown[];
        const fresh: unknown[] = [];
        state[op.k] = fresh;
        return fresh;
      };
      if (op.o === 'del') delete state[op.k];
      else if (op.o === 'put') state[op.k] = op.v;
      else if (op.o === 'add') list().push(op.v);
      else list()[op.i ?? 0] = op.v;
    }
    current = line.to;
  }
}

/** A tenant with `groups` distribution lists (plus a few security and Microsoft 365 groups) for scaling runs. */
export function seedLargeTenant(
  groups: number,
  options: {
    leavers?: number;
    membershipsPerLeaver?: number;
    certificate?: { thumbprint: string };
    latencyMs?: number;
  } = {},
): { tenant: ExchangeStubTenant; leavers: string[]; manager: string } {
  const leaverCount = options.leavers ?? 1;
  const memberships = Math.min(options.membershipsPerLeaver ?? 3, groups);
  const domain = 'contoso.com';
  const manager = `manager@${domain}`;
  const leavers = Array.from({ length: leaverCount }, (_, i) => `leaver${i + 1}@${domain}`);
  const colleagues = Array.from({ length: 20 }, (_, i) => `colleague${i + 1}@${domain}`);
  const mailboxes: StubMailboxSeed[] = [manager, ...leavers, ...colleagues].map((address) => ({ address }));
  const seeds: StubGroupSeed[] = [];
  for (let i = 0; i < groups; i++) {
    // Each leaver is in `memberships` lists spread over the tenant; colleagues fill every list.
    const members = colleagues.filter((_, c) => (i + c) % 4 === 0);
    leavers.forEach((leaver, l) => {
      const stride = Math.max(1, Math.floor(groups / memberships));
      if (i % stride === l % stride && Math.floor(i / stride) < memberships) members.push(leaver);
    });
    seeds.push({ name: `dl-${String(i + 1).padStart(4, '0')}`, members });
  }
  // Groups the leavers are in that must be left alone.
  seeds.push({ name: 'sg-finance', type: 'MailUniversalSecurityGroup', members: [...leavers] });
  seeds.push({ name: 'm365-project', type: 'GroupMailbox', members: [...leavers] });
  const tenant = ExchangeStubTenant.create({
    mailboxes,
    groups: seeds,
    ...(options.certificate ? { certificate: options.certificate } : {}),
    ...(options.latencyMs !== undefined ? { latencyMs: options.latencyMs } : {}),
  });
  return { tenant, leavers, manager };
}

function buildState(options: ExchangeStubTenantOptions): StubState {
  const organization = options.organization ?? STUB_ORGANIZATION;
  const mailboxes: StubMailbox[] = (options.mailboxes ?? []).map((seed) => {
    const alias = seed.alias ?? aliasOf(seed.address);
    const name = seed.name ?? alias;
    const recipient: StubMailbox = {
      ...structuredClone(seed.catalogue ?? {}),
      guid: randomUUID(),
      exchangeGuid: randomUUID(),
      externalDirectoryObjectId: randomUUID(),
      dn: distinguishedName(name, organization),
      name,
      alias,
      displayName: seed.displayName ?? name,
      primarySmtpAddress: seed.address,
      ...(seed.type === 'MailContact' ? {} : { userPrincipalName: seed.userPrincipalName ?? seed.address }),
      emailAddresses: proxies(seed.emailAddresses),
      recipientTypeDetails: seed.type ?? 'UserMailbox',
    };
    return recipient;
  });
  const groups: StubGroup[] = (options.groups ?? []).map((seed) => {
    const alias = aliasOf(seed.address ?? `${seed.name}@contoso.com`);
    return {
      guid: randomUUID(),
      dn: distinguishedName(seed.name, organization),
      name: seed.name,
      alias,
      displayName: seed.displayName ?? seed.name,
      primarySmtpAddress: seed.address ?? `${alias}@contoso.com`,
      emailAddresses: proxies(seed.emailAddresses),
      recipientTypeDetails: seed.type ?? 'MailUniversalDistributionGroup',
      members: [],
    };
  });
  const guidOf = (address: string): string => {
    const found =
      mailboxes.find((m) => sameAddress(m.primarySmtpAddress, address)) ??
      groups.find((g) => sameAddress(g.primarySmtpAddress, address) || g.name === address);
    if (!found) throw new Error(`stub tenant seed: no recipient ${address}`);
    return found.guid;
  };
  (options.groups ?? []).forEach((seed, i) => {
    const group = groups[i];
    if (group) group.members = (seed.members ?? []).map(guidOf);
  });
  const managedIdentity =
    options.managedIdentity === undefined || options.managedIdentity === false
      ? undefined
      : options.managedIdentity === true
        ? { enabled: true }
        : {
            enabled: true,
            ...(options.managedIdentity.accountId ? { accountId: options.managedIdentity.accountId } : {}),
          };
  return {
    organization,
    connection: {
      organization,
      appId: options.appId ?? STUB_APP_ID,
      thumbprint: options.certificate?.thumbprint ?? '',
      ...(managedIdentity ? { managedIdentity } : {}),
    },
    latencyMs: options.latencyMs ?? 0,
    mailboxes,
    groups,
    mailboxPermissions: (options.fullAccess ?? []).map((grant) => ({
      mailbox: guidOf(grant.mailbox),
      user: guidOf(grant.user),
      accessRights: ['FullAccess'],
      inheritanceType: 'All',
      autoMapping: true,
      deny: false,
    })),
    recipientPermissions: (options.sendAs ?? []).map((grant) => ({
      recipient: guidOf(grant.mailbox),
      trustee: guidOf(grant.trustee),
      accessRights: ['SendAs'],
      accessControlType: 'Allow',
    })),
    faults: options.faults ?? [],
  };
}

/** Bare addresses become `smtp:` (secondary) proxies; prefixed proxies stay as given. */
function proxies(addresses: readonly string[] | undefined): string[] {
  return (addresses ?? []).map((address) => (/^[A-Za-z0-9]+:/.test(address) ? address : `smtp:${address}`));
}

function aliasOf(address: string): string {
  return (address.split('@')[0] ?? address).replace(/[^\p{L}\p{M}\p{N}._'-]/gu, '') || 'recipient';
}

/** Exchange Online's DN shape, with RFC 4514 escaping of the name. */
function distinguishedName(name: string, organization: string): string {
  const cn = name.replace(/[,\\+"<>;=#]/g, (c) => `\\${c}`);
  return `CN=${cn},OU=${organization},OU=Microsoft Exchange Hosted Organizations,DC=EURPR04A001,DC=PROD,DC=OUTLOOK,DC=COM`;
}

function sameAddress(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function addressOf(state: StubState, guid: string): string {
  return (
    state.mailboxes.find((m) => m.guid === guid)?.primarySmtpAddress ??
    state.groups.find((g) => g.guid === guid)?.primarySmtpAddress ??
    guid
  );
}
